// The physician's consents: the patients who share their records (scope, since, until and
// how soon that is), emergency access in force, the requests still waiting for a patient's
// answer (withdrawable), and what ended. Patients are named from their records where the
// physician may read them; a pending request's patient has not shared anything yet.

import { useMutation, useQueryClient } from '@tanstack/react-query';
import { Link } from 'react-router-dom';
import { useClient } from '../ui/session';
import { Badge, Empty, FormError, PageTitle, QueryState, Section } from '../ui/components';
import { useI18n } from '../i18n/I18nProvider';
import type { MessageKey } from '../i18n/core';
import { endsWithin, formatRelative } from '../i18n/relative';
import { formatDateTime, patientName } from '../fhir/format';
import { usePatients, useConsents } from './hooks';
import type { ConsentStatus, Grant } from '../api/types';
import { typeLabel } from './SearchPage';

const SOON_DAYS = 7;

const STATUS_KEYS: Record<ConsentStatus, MessageKey> = {
  active: 'consent.active',
  proposed: 'consent.proposed',
  rejected: 'consent.rejected',
  revoked: 'consent.revoked',
  expired: 'consent.expired',
};

/** The physician's grants in the page's four groups, newest first. */
export function consentGroups(grants: Grant[]) {
  const newest = [...grants].sort((a, b) => b.start.localeCompare(a.start));
  return {
    sharing: newest.filter((g) => g.status === 'active' && !g.break_glass),
    emergency: newest.filter((g) => g.status === 'active' && g.break_glass),
    pending: newest.filter((g) => g.status === 'proposed'),
    ended: newest.filter((g) => g.status !== 'active' && g.status !== 'proposed'),
  };
}

export function ConsentsPage() {
  const client = useClient();
  const queryClient = useQueryClient();
  const { t, locale } = useI18n();
  const consents = useConsents();
  const ids = [...new Set((consents.data ?? []).filter((g) => g.status === 'active').map((g) => g.patient))];
  const patients = usePatients(ids);
  const withdraw = useMutation({
    mutationFn: (id: string) => client.revokeConsent(id),
    onSuccess: () => queryClient.invalidateQueries({ queryKey: ['consents'] }),
  });
  const now = new Date();
  const nameOf = (id: string) => {
    const found = patients.data?.find((p) => p.id === id);
    return found ? patientName(found) : undefined;
  };
  const scope = (g: Grant) => (g.scope === '*' ? t('consent.scope.all') : g.scope.map((type) => typeLabel(type, t)).join(', '));
  const until = (g: Grant) =>
    g.end ? (
      <>
        {formatDateTime(g.end, locale)} <span className="muted">({formatRelative(g.end, now, locale)})</span>{' '}
        {endsWithin(g.end, now, SOON_DAYS) ? <Badge tone="warn">{t('consent.endsSoon')}</Badge> : null}
      </>
    ) : (
      t('consent.untilRevoked')
    );
  const patientCell = (g: Grant) => {
    const name = nameOf(g.patient);
    return name ? (
      <Link to={`/patients/${encodeURIComponent(g.patient)}`}>{name}</Link>
    ) : (
      <>
        {t('consent.patientNotShared')} <code className="muted">{g.patient}</code>
      </>
    );
  };
  return (
    <>
      <PageTitle>{t('consents.title')}</PageTitle>
      <QueryState query={consents} loadingLabel={t('consents.loading')}>
        {(grants) => {
          const groups = consentGroups(grants);
          return (
            <>
              <Section title={t('consents.sharing')} id="sharing">
                {groups.sharing.length ? (
                  <div className="table-wrap">
                    <table data-testid="sharing-table">
                      <caption className="visually-hidden">{t('consents.sharing')}</caption>
                      <thead>
                        <tr>
                          <th scope="col">{t('consent.patient')}</th>
                          <th scope="col">{t('consent.scope')}</th>
                          <th scope="col">{t('consent.since')}</th>
                          <th scope="col">{t('consent.until')}</th>
                        </tr>
                      </thead>
                      <tbody>
                        {groups.sharing.map((g) => (
                          <tr key={g.id}>
                            <th scope="row">{patientCell(g)}</th>
                            <td>{scope(g)}</td>
                            <td>{formatDateTime(g.start, locale)}</td>
                            <td>{until(g)}</td>
                          </tr>
                        ))}
                      </tbody>
                    </table>
                  </div>
                ) : (
                  <Empty>{t('consents.noSharing')}</Empty>
                )}
              </Section>
              {groups.emergency.length ? (
                <Section title={t('consents.emergency')} id="emergency">
                  <ul className="plain-list">
                    {groups.emergency.map((g) => (
                      <li key={g.id} className="row-alert">
                        <Badge tone="bad">{t('consent.emergency')}</Badge> {patientCell(g)} — {until(g)}
                        {g.reason ? <p className="muted">{t('consent.reason', { reason: g.reason })}</p> : null}
                      </li>
                    ))}
                  </ul>
                </Section>
              ) : null}
              <Section title={t('consents.pending')} id="pending">
                {groups.pending.length ? (
                  <ul className="plain-list" data-testid="pending-requests">
                    {groups.pending.map((g) => (
                      <li key={g.id}>
                        {patientCell(g)} · {scope(g)} · <span className="muted">{t('consent.requestedAt', { when: formatDateTime(g.start, locale) })}</span>{' '}
                        <button type="button" className="danger" onClick={() => withdraw.mutate(g.id)} disabled={withdraw.isPending}>
                          {t('consents.withdraw')}
                        </button>
                      </li>
                    ))}
                  </ul>
                ) : (
                  <Empty>{t('consents.noPending')}</Empty>
                )}
                <FormError error={withdraw.error} />
              </Section>
              {groups.ended.length ? (
                <Section title={t('consents.ended')} id="ended">
                  <ul className="plain-list">
                    {groups.ended.slice(0, 20).map((g) => (
                      <li key={g.id}>
                        <Badge>{t(STATUS_KEYS[g.status])}</Badge> {patientCell(g)} · {scope(g)}
                        {g.end ? <span className="muted"> · {formatDateTime(g.end, locale)}</span> : null}
                      </li>
                    ))}
                  </ul>
                </Section>
              ) : null}
            </>
          );
        }}
      </QueryState>
    </>
  );
}
