// A patient's earlier drug-interaction checks (when, by whom, how many findings, the worst)
// and the acknowledgements of blocking findings (reason, by whom, until when, still in force).

import { useState } from 'react';
import { Badge, QueryState, Section } from '../ui/components';
import { formatDateTime, userLocale } from '../fhir/format';
import { highestSeverity, issueSeverityLabel, severityName, type SeverityName } from '../api/clinical';
import type { DrugHistory } from '../api/types';
import { SeverityBadge } from './FindingCard';

/** An acknowledgement's `DetectedIssue.severity` (`high`, `moderate`, `low`), written out. */
export function IssueSeverityBadge({ severity }: { severity: string }) {
  return (
    <span className={`severity issue-severity-${severity}`}>
      <span className="visually-hidden">Severity: </span>
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
      <h3 className="history-heading">Checks</h3>
      {checks.length ? (
        <div className="table-wrap">
          <table data-testid="check-history">
            <caption className="visually-hidden">Drug-interaction checks</caption>
            <thead>
              <tr>
                <th scope="col">When</th>
                <th scope="col">By</th>
                <th scope="col">Medications</th>
                <th scope="col">Findings</th>
                <th scope="col">Highest severity</th>
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
                    <td>{worst ? <SeverityBadge severity={worst} /> : <span className="muted">None</span>}</td>
                  </tr>
                );
              })}
            </tbody>
          </table>
          {sorted.length > checks.length ? (
            <button type="button" className="link-button" onClick={() => setAll(true)}>
              Show all {sorted.length} checks
            </button>
          ) : null}
        </div>
      ) : (
        <p className="state state-empty">No interaction checks for this patient yet.</p>
      )}
      <h3 className="history-heading">Acknowledgements</h3>
      {acknowledgements.length ? (
        <div className="table-wrap">
          <table data-testid="acknowledgement-history">
            <caption className="visually-hidden">Acknowledged findings</caption>
            <thead>
              <tr>
                <th scope="col">Finding</th>
                <th scope="col">Reason</th>
                <th scope="col">By</th>
                <th scope="col">Until</th>
                <th scope="col">Status</th>
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
                  <td>{ack.active ? <Badge tone="good">Active</Badge> : <Badge tone="neutral">Expired</Badge>}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      ) : (
        <p className="state state-empty">No findings acknowledged for this patient.</p>
      )}
    </>
  );
}

export function CheckHistorySection({ patientId }: { patientId: string }) {
  const history = useClinicalHistory(patientId);
  return (
    <Section title="Interaction checks and acknowledgements" id="interaction-history">
      <QueryState query={history} loadingLabel="Loading the checks…" errorTitle="Cannot load the checks">
        {(data) => <CheckHistoryView history={data} />}
      </QueryState>
    </Section>
  );
}
