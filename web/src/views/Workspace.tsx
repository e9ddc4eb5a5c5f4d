export function WorkspaceView() {
  return (
    <section className="view">
      <h1>Workspace</h1>
      <p className="muted">This view is being built.</p>
    </section>
  );
}
