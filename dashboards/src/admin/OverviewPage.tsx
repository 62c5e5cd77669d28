// The admin's home: what needs attention (pending physicians, break-glass accesses, system
// health) and the platform's statistics as small charts.

import { useQuery } from '@tanstack/react-query';
import { Link } from 'react-router-dom';
import { useClient } from '../ui/session';
import { Badge, PageTitle, QueryState, Section } from '../ui/components';
import { BarChart } from '../ui/BarChart';
import { formatDateTime } from '../fhir/format';
import { PendingPhysicians } from './UsersPage';
import { healthTone } from './SystemPage';

function Tile({ label, value, to, tone }: { label: string; value: number; to?: string; tone?: 'warn' | 'bad' }) {
  const body = (
    <>
      <span className="tile-value">{value.toLocaleString('en-US')}</span>
      <span className="tile-label">{label}</span>
    </>
  );
  return <li className={`tile${tone && value > 0 ? ` tile-${tone}` : ''}`}>{to ? <Link to={to}>{body}</Link> : body}</li>;
}

const sum = (counts: Record<string, number>) => Object.values(counts).reduce((total, n) => total + n, 0);

export function OverviewPage() {
  const client = useClient();
  const stats = useQuery({ queryKey: ['admin', 'stats'], queryFn: () => client.adminStats(), refetchInterval: 60_000 });
  const health = useQuery({ queryKey: ['admin', 'health'], queryFn: () => client.adminHealth(), refetchInterval: 30_000 });
  return (
    <>
      <PageTitle>Administration</PageTitle>
      <Section title="System health" id="health-summary">
        <QueryState query={health} loadingLabel="Checking the system…">
          {(h) => (
            <p data-testid="health-summary">
              <Badge tone={healthTone(h.status)}>{h.status === 'ok' ? 'All systems working' : `System ${h.status}`}</Badge>{' '}
              {h.checks
                .filter((check) => check.status !== 'ok')
                .map((check) => `${check.name}: ${check.status}`)
                .join(', ')}{' '}
              <Link to="/admin/system">Details and reindex</Link>
            </p>
          )}
        </QueryState>
      </Section>
      <PendingPhysicians />
      <Section title="Statistics" id="statistics">
        <QueryState query={stats} loadingLabel="Counting…">
          {(s) => (
            <>
              <ul className="tiles" aria-label="Key figures">
                <Tile label="Patients" value={s.patients} />
                <Tile label="Resources" value={sum(s.resources)} />
                <Tile label="Active consents" value={s.active_consents} />
                <Tile label="Pending physicians" value={s.pending_physicians} to="/admin/users?status=pending&role=physician" tone="warn" />
                <Tile label="Break-glass, last 24 h" value={s.break_glass.last_24h} to="/admin/break-glass" tone="bad" />
                <Tile label="Break-glass, last 7 days" value={s.break_glass.last_7d} to="/admin/break-glass" tone="bad" />
              </ul>
              <div className="chart-grid charts">
                <BarChart title="Resources by type" counts={s.resources} max={12} />
                <BarChart title="Users by role" counts={s.users} />
                <BarChart title="Documents by status" counts={s.documents} />
                <BarChart title="Jobs by status" counts={s.jobs} />
                <BarChart title="Research exports by status" counts={s.exports} />
              </div>
              <p className="muted">Counted {formatDateTime(s.computed_at)}.</p>
            </>
          )}
        </QueryState>
      </Section>
    </>
  );
}
