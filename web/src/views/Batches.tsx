export function BatchesView() {
  return (
    <section className="view">
      <h1>Batches</h1>
      <p className="muted">This view is being built.</p>
    </section>
  );
}
