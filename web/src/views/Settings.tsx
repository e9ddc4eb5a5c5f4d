export function SettingsView() {
  return (
    <section className="view">
      <h1>Settings</h1>
      <p className="muted">This view is being built.</p>
    </section>
  );
}
