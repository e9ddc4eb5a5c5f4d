/* Administration: users (role, disabled), organisations and their members,
 * invitations, and the audit log with search. */
import { useState, type FormEvent } from 'react';
import { keepPreviousData, useQuery, useQueryClient } from '@tanstack/react-query';
import { api } from '../api/client';
import type { Me, Role, User, UserPatch } from '../api/types';
import { setTab, useUi } from '../state/hooks';
import { Empty, QueryState } from '../components/States';
import { Tabs } from '../components/Tabs';
import { notify } from '../components/Toasts';

const ROLES: Role[] = ['admin', 'researcher', 'viewer'];
const TABS = [
  ['users', 'Users'],
  ['orgs', 'Organisations'],
  ['audit', 'Audit log'],
] as const;

export function AdminView({ me }: { me: Me }) {
  const tab = useUi((s) => s.tabs.admin ?? 'users');
  return (
    <section className="view" aria-labelledby="adm-title">
      <div className="view-head">
        <h1 id="adm-title">Administration</h1>
      </div>
      <Tabs id="admin" label="Administration sections" tabs={TABS} selected={tab} onSelect={(k) => setTab('admin', k)}>
        {tab === 'users' && <Users me={me} />}
        {tab === 'orgs' && <Orgs />}
        {tab === 'audit' && <Audit />}
      </Tabs>
    </section>
  );
}

function Users({ me }: { me: Me }) {
  const qc = useQueryClient();
  const [email, setEmail] = useState('');
  const q = useQuery({ queryKey: ['users', email], queryFn: () => api.users({ limit: 500, ...(email ? { email } : {}) }), placeholderData: keepPreviousData });
  const [invite, setInvite] = useState<string | null>(null);
  const patch = async (u: User, b: UserPatch) => {
    try {
      await api.patchUser(u.id, b);
      qc.invalidateQueries({ queryKey: ['users'] });
      notify('success', `${u.email} updated.`);
    } catch (e) {
      notify('error', (e as Error).message);
    }
  };
  const makeInvite = async (e: FormEvent<HTMLFormElement>) => {
    e.preventDefault();
    const f = new FormData(e.currentTarget);
    try {
      const r = await api.createInvite({
        ...(f.get('email') ? { email: String(f.get('email')) } : {}),
        role: String(f.get('role')) as Role,
      });
      setInvite(r.code);
    } catch (err) {
      notify('error', (err as Error).message);
    }
  };
  return (
    <div className="stack">
      <div className="row">
        <label style={{ flex: 1 }}>
          Find by e-mail (exact)
          <input type="search" value={email} onChange={(e) => setEmail(e.target.value.trim())} />
        </label>
      </div>
      <QueryState q={q} isEmpty={(p) => p.items.length === 0} empty="No user found.">
        {(p) => (
          <table className="data">
            <thead>
              <tr>
                <th>e-mail</th>
                <th>name</th>
                <th>role</th>
                <th>disabled</th>
                <th>last login</th>
                <th>created</th>
              </tr>
            </thead>
            <tbody>
              {p.items.map((u) => (
                <tr key={u.id}>
                  <td>{u.email}</td>
                  <td>{u.display_name ?? '—'}</td>
                  <td>
                    <select aria-label={`role of ${u.email}`} value={u.role} disabled={u.id === me.id} onChange={(e) => patch(u, { role: e.target.value as Role })}>
                      {ROLES.map((r) => (
                        <option key={r}>{r}</option>
                      ))}
                    </select>
                  </td>
                  <td>
                    <input type="checkbox" aria-label={`${u.email} disabled`} checked={u.disabled} disabled={u.id === me.id} onChange={(e) => patch(u, { disabled: e.target.checked })} />
                  </td>
                  <td>{u.last_login_at ? new Date(u.last_login_at).toLocaleString() : 'never'}</td>
                  <td>{new Date(u.created_at).toLocaleDateString()}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </QueryState>
      <form className="row" onSubmit={makeInvite}>
        <h3 style={{ width: '100%', margin: 0 }}>Invite someone</h3>
        <label style={{ flex: 1 }}>
          E-mail (optional)
          <input name="email" type="email" />
        </label>
        <label>
          Role
          <select name="role" defaultValue="researcher">
            {ROLES.map((r) => (
              <option key={r}>{r}</option>
            ))}
          </select>
        </label>
        <button className="btn" type="submit">
          Make an invitation code
        </button>
      </form>
      {invite && (
        <div className="state" role="status">
          Invitation code (shown once): <code>{invite}</code>
        </div>
      )}
    </div>
  );
}

function Orgs() {
  const qc = useQueryClient();
  const q = useQuery({ queryKey: ['organisations'], queryFn: api.organisations });
  const [open, setOpen] = useState<string | null>(null);
  const members = useQuery({ queryKey: ['org-members', open], queryFn: () => api.orgMembers(open!), enabled: !!open });
  const create = async (e: FormEvent<HTMLFormElement>) => {
    e.preventDefault();
    const form = e.currentTarget;
    const name = String(new FormData(form).get('name') ?? '').trim();
    if (!name) return;
    try {
      await api.createOrganisation(name);
      form.reset();
      qc.invalidateQueries({ queryKey: ['organisations'] });
    } catch (err) {
      notify('error', (err as Error).message);
    }
  };
  return (
    <div className="stack">
      <form className="row" onSubmit={create}>
        <label style={{ flex: 1 }}>
          New organisation
          <input name="name" placeholder="name" />
        </label>
        <button className="btn" type="submit">
          Create
        </button>
      </form>
      <QueryState q={q} isEmpty={(p) => p.items.length === 0} empty="You belong to no organisation.">
        {(p) => (
          <table className="data">
            <thead>
              <tr>
                <th>name</th>
                <th>created</th>
                <th />
              </tr>
            </thead>
            <tbody>
              {p.items.map((o) => (
                <tr key={o.id}>
                  <td>{o.name}</td>
                  <td>{o.created_at ? new Date(String(o.created_at)).toLocaleDateString() : ''}</td>
                  <td>
                    <button type="button" className="btn small" onClick={() => setOpen(open === o.id ? null : o.id)}>
                      {open === o.id ? 'Hide members' : 'Members'}
                    </button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </QueryState>
      {open && (
        <QueryState q={members} isEmpty={(p) => p.items.length === 0} empty="No member.">
          {(p) => (
            <table className="data">
              <thead>
                <tr>
                  <th>user</th>
                  <th>role</th>
                </tr>
              </thead>
              <tbody>
                {p.items.map((m) => (
                  <tr key={m.user_id}>
                    <td>{m.user_id}</td>
                    <td>{m.role}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        </QueryState>
      )}
    </div>
  );
}

function Audit() {
  const [action, setAction] = useState('');
  const [user, setUser] = useState('');
  const [since, setSince] = useState('');
  const [text, setText] = useState('');
  const q = useQuery({
    queryKey: ['audit', action, user, since],
    queryFn: () =>
      api.audit({
        limit: 500,
        ...(action ? { action } : {}),
        ...(user ? { user_id: user } : {}),
        ...(since ? { since: new Date(since).toISOString() } : {}),
      }),
    placeholderData: keepPreviousData,
  });
  const t = text.trim().toLowerCase();
  return (
    <div className="stack">
      <div className="row" role="search">
        <label>
          Action
          <input value={action} onChange={(e) => setAction(e.target.value.trim())} placeholder="e.g. login_failed" />
        </label>
        <label>
          User id
          <input value={user} onChange={(e) => setUser(e.target.value.trim())} />
        </label>
        <label>
          Since
          <input type="datetime-local" value={since} onChange={(e) => setSince(e.target.value)} />
        </label>
        <label style={{ flex: 1 }}>
          Search the entries shown
          <input type="search" value={text} onChange={(e) => setText(e.target.value)} placeholder="e-mail, address, reason…" />
        </label>
      </div>
      <QueryState q={q} isEmpty={(p) => p.items.length === 0} empty="No entry matches.">
        {(p) => {
          const rows = t ? p.items.filter((a) => JSON.stringify(a).toLowerCase().includes(t)) : p.items;
          if (!rows.length) return <Empty>No entry matches “{text}”.</Empty>;
          return (
            <table className="data">
              <thead>
                <tr>
                  <th>when</th>
                  <th>action</th>
                  <th>status</th>
                  <th>entity</th>
                  <th>user</th>
                  <th>address</th>
                  <th>details</th>
                </tr>
              </thead>
              <tbody>
                {rows.map((a) => (
                  <tr key={a.id}>
                    <td>{new Date(a.created_at).toLocaleString()}</td>
                    <td>
                      <code>{a.action}</code>
                    </td>
                    <td className={a.status === 'success' ? '' : 'field-error'}>{a.status}</td>
                    <td>
                      {a.entity_type}
                      {a.entity_id ? ` ${a.entity_id.slice(-8)}` : ''}
                    </td>
                    <td title={a.user_id ?? ''}>{a.user_id ? a.user_id.slice(-8) : '—'}</td>
                    <td>{a.ip_address}</td>
                    <td style={{ whiteSpace: 'normal', maxWidth: 360 }}>
                      {a.reason ?? ''} {a.changes ? <code>{JSON.stringify(a.changes)}</code> : null}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          );
        }}
      </QueryState>
    </div>
  );
}
