export function DashboardView() {
  return (
    <section className="view">
      <h1>Dashboard</h1>
      <p className="muted">This view is being built.</p>
    </section>
  );
}
