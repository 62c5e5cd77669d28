// The admin's home: what needs attention (pending physicians, break-glass accesses, system
// health) and the platform's statistics as small charts.

import { useQuery } from '@tanstack/react-query';
import { Link } from 'react-router-dom';
import { useClient } from '../ui/session';
import { Badge, PageTitle, QueryState, Section } from '../ui/components';
import { BarChart } from '../ui/BarChart';
import { formatDateTime, formatNumber } from '../fhir/format';
import { PendingPhysicians } from './UsersPage';
import { healthStatus, healthTone } from './SystemPage';
import { translate as t } from '../i18n/core';

function Tile({ label, value, to, tone }: { label: string; value: number; to?: string; tone?: 'warn' | 'bad' }) {
  const body = (
    <>
      <span className="tile-value">{formatNumber(value)}</span>
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
      <PageTitle>{t('adm.overview.title')}</PageTitle>
      <Section title={t('adm.health.summary')} id="health-summary">
        <QueryState query={health} loadingLabel={t('adm.health.checking')}>
          {(h) => (
            <p data-testid="health-summary">
              <Badge tone={healthTone(h.status)}>{h.status === 'ok' ? t('adm.health.allOk') : t('adm.health.system', { status: healthStatus(h.status) })}</Badge>{' '}
              {h.checks
                .filter((check) => check.status !== 'ok')
                .map((check) => `${check.name}: ${healthStatus(check.status)}`)
                .join(', ')}{' '}
              <Link to="/admin/system">{t('adm.health.details')}</Link>
            </p>
          )}
        </QueryState>
      </Section>
      <PendingPhysicians />
      <Section title={t('adm.stats')} id="statistics">
        <QueryState query={stats} loadingLabel={t('adm.stats.counting')}>
          {(s) => (
            <>
              <ul className="tiles" aria-label={t('adm.stats.key')}>
                <Tile label={t('adm.stats.patients')} value={s.patients} />
                <Tile label={t('adm.stats.resources')} value={sum(s.resources)} />
                <Tile label={t('adm.stats.consents')} value={s.active_consents} />
                <Tile label={t('adm.pending.title')} value={s.pending_physicians} to="/admin/users?status=pending&role=physician" tone="warn" />
                <Tile label={t('adm.stats.glass24')} value={s.break_glass.last_24h} to="/admin/break-glass" tone="bad" />
                <Tile label={t('adm.stats.glass7')} value={s.break_glass.last_7d} to="/admin/break-glass" tone="bad" />
              </ul>
              <div className="chart-grid charts">
                <BarChart title={t('adm.chart.resources')} counts={s.resources} max={12} />
                <BarChart title={t('adm.chart.users')} counts={s.users} />
                <BarChart title={t('adm.chart.documents')} counts={s.documents} />
                <BarChart title={t('adm.chart.jobs')} counts={s.jobs} />
                <BarChart title={t('adm.chart.exports')} counts={s.exports} />
              </div>
              <p className="muted">{t('adm.stats.counted', { when: formatDateTime(s.computed_at) })}</p>
            </>
          )}
        </QueryState>
      </Section>
    </>
  );
}
