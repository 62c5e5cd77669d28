// A patient's earlier drug-interaction checks (when, by whom, how many findings, the worst)
// and the acknowledgements of blocking findings (reason, by whom, until when, still in force).

import { useState } from 'react';
import { Badge, QueryState, Section } from '../ui/components';
import { formatDateTime, userLocale } from '../fhir/format';
import { highestSeverity, issueSeverityLabel, severityName, type SeverityName } from '../api/clinical';
import type { DrugHistory } from '../api/types';
import { SeverityBadge } from './FindingCard';
import { translate as t } from '../i18n/core';

/** An acknowledgement's `DetectedIssue.severity` (`high`, `moderate`, `low`), written out. */
export function IssueSeverityBadge({ severity }: { severity: string }) {
  return (
    <span className={`severity issue-severity-${severity}`}>
      <span className="visually-hidden">{t('severity.label')} </span>
      {issueSeverityLabel(severity)}
    </span>
  );
}
import { useClinicalHistory } from './hooks';
import { usePersonLabel } from './people';

/** Checks shown before "Show all" (every selection on the Prescribe panel is one). */
export const RECENT_CHECKS = 10;

export function CheckHistoryView({ history }: { history: DrugHistory }) {
  const locale = userLocale();
  const person = usePersonLabel();
  const [all, setAll] = useState(false);
  const sorted = [...history.checks].sort((a, b) => b.checked_at.localeCompare(a.checked_at));
  const checks = all ? sorted : sorted.slice(0, RECENT_CHECKS);
  const acknowledgements = [...history.acknowledgements].sort((a, b) => b.acknowledged_at.localeCompare(a.acknowledged_at));
  return (
    <>
      <h3 className="history-heading">{t('history.checks')}</h3>
      {checks.length ? (
        <div className="table-wrap">
          <table data-testid="check-history">
            <caption className="visually-hidden">{t('history.checksCaption')}</caption>
            <thead>
              <tr>
                <th scope="col">{t('log.col.when')}</th>
                <th scope="col">{t('history.by')}</th>
                <th scope="col">{t('nav.medications')}</th>
                <th scope="col">{t('history.findings')}</th>
                <th scope="col">{t('history.highest')}</th>
              </tr>
            </thead>
            <tbody>
              {checks.map((check) => {
                const worst = highestSeverity(check.findings.map((f) => severityName(f.severity)).filter((s): s is SeverityName => s !== null));
                return (
                  <tr key={check.check_id}>
                    <td>{formatDateTime(check.checked_at, locale)}</td>
                    <td>{person(check.checked_by, check.checked_by_name)}</td>
                    <td>{check.medications.join(', ') || '—'}</td>
                    <td className="num">{check.findings.length}</td>
                    <td>{worst ? <SeverityBadge severity={worst} /> : <span className="muted">{t('history.none')}</span>}</td>
                  </tr>
                );
              })}
            </tbody>
          </table>
          {sorted.length > checks.length ? (
            <button type="button" className="link-button" onClick={() => setAll(true)}>
              {t('history.showAll', { count: sorted.length })}
            </button>
          ) : null}
        </div>
      ) : (
        <p className="state state-empty">{t('history.noChecks')}</p>
      )}
      <h3 className="history-heading">{t('history.acks')}</h3>
      {acknowledgements.length ? (
        <div className="table-wrap">
          <table data-testid="acknowledgement-history">
            <caption className="visually-hidden">{t('history.acksCaption')}</caption>
            <thead>
              <tr>
                <th scope="col">{t('history.finding')}</th>
                <th scope="col">{t('history.reason')}</th>
                <th scope="col">{t('history.by')}</th>
                <th scope="col">{t('consent.until')}</th>
                <th scope="col">{t('sharing.col.status')}</th>
              </tr>
            </thead>
            <tbody>
              {acknowledgements.map((ack) => (
                <tr key={ack.id}>
                  <td>
                    <IssueSeverityBadge severity={ack.severity} /> {ack.summary}
                  </td>
                  <td>{ack.reason}</td>
                  <td>
                    {person(ack.acknowledged_by, ack.acknowledged_by_name)}
                    <br />
                    <span className="muted">{formatDateTime(ack.acknowledged_at, locale)}</span>
                  </td>
                  <td>{formatDateTime(ack.expires_at, locale)}</td>
                  <td>{ack.active ? <Badge tone="good">{t('consent.active')}</Badge> : <Badge tone="neutral">{t('consent.expired')}</Badge>}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      ) : (
        <p className="state state-empty">{t('history.noAcks')}</p>
      )}
    </>
  );
}

export function CheckHistorySection({ patientId }: { patientId: string }) {
  const history = useClinicalHistory(patientId);
  return (
    <Section title={t('history.title')} id="interaction-history">
      <QueryState query={history} loadingLabel={t('history.loading')} errorTitle={t('history.failed')}>
        {(data) => <CheckHistoryView history={data} />}
      </QueryState>
    </Section>
  );
}
