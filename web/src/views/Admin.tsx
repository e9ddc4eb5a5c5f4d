import type { Me } from '../api/types';
export function AdminView({ me }: { me: Me }) {
  return (
    <section className="view">
      <h1>Admin</h1>
      <p className="muted">Signed in as {me.email}.</p>
    </section>
  );
}
