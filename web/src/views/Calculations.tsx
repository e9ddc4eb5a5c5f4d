export function CalculationsView() {
  return (
    <section className="view">
      <h1>Calculations</h1>
      <p className="muted">This view is being built.</p>
    </section>
  );
}
