export function ResultsView({ id }: { id: string | null }) {
  return (
    <section className="view">
      <h1>Results</h1>
      <p className="muted">{id ?? 'No calculation chosen.'}</p>
    </section>
  );
}
