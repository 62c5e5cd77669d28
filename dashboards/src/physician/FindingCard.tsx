// A finding of a drug-interaction check as a card: the severity (colour and text, never colour
// alone), what it is about and what it conflicts with, mechanism, recommendation, source and
// evidence, and the acknowledgement in force, if any.

import type { ReactNode } from 'react';
import { formatDateTime, userLocale } from '../fhir/format';
import { sortFindings, type FindingView, type SeverityName } from '../api/clinical';
import { usePersonLabel } from './people';
import { translate as t, type MessageKey } from '../i18n/core';

const SEVERITY_LABEL: Record<SeverityName, MessageKey> = {
  contraindicated: 'severity.contraindicated',
  serious: 'severity.serious',
  moderate: 'severity.moderate',
  minor: 'severity.minor',
};

export function severityLabel(severity: SeverityName): string {
  const key = SEVERITY_LABEL[severity];
  return key ? t(key) : severity;
}

/** The severity as a labelled badge (`severity severity-<level>`). */
export function SeverityBadge({ severity }: { severity: SeverityName }) {
  return (
    <span className={`severity severity-${severity}`}>
      <span className="visually-hidden">{t('severity.label')} </span>
      {severityLabel(severity)}
    </span>
  );
}

/** What a conflicting record is, by the type of its reference. */
export function conflictOrigin(finding: FindingView): string {
  const type = finding.conflicting.reference?.split('/')[0];
  if (type === 'AllergyIntolerance') return t('finding.allergyOnRecord');
  if (type === 'MedicationRequest' || type === 'MedicationStatement') return t('finding.medicationOnRecord');
  if (finding.kind === 'allergy') return t('finding.allergy');
  return t('finding.inCheck');
}

export function FindingCard({ finding, children }: { finding: FindingView; children?: ReactNode }) {
  const locale = userLocale();
  const person = usePersonLabel();
  const headingId = `finding-${finding.key.replace(/\W+/g, '-')}`;
  const acknowledgement = finding.acknowledgement;
  return (
    <article className={`finding finding-${finding.severity}`} aria-labelledby={headingId} data-testid="finding" data-severity={finding.severity}>
      <p className="finding-meta">
        <SeverityBadge severity={finding.severity} />{' '}
        <span className="finding-kind">{finding.kind === 'allergy' ? t('finding.allergyConflict') : t('finding.interaction')}</span>
      </p>
      <h3 id={headingId}>{finding.summary}</h3>
      <dl className="facts">
        <dt>{t('type.MedicationRequest')}</dt>
        <dd>{finding.medication}</dd>
        <dt>{t('finding.conflicts')}</dt>
        <dd>
          {finding.conflicting.display} <span className="muted">({conflictOrigin(finding)})</span>
        </dd>
        {finding.mechanism ? (
          <>
            <dt>{t('finding.mechanism')}</dt>
            <dd>{finding.mechanism}</dd>
          </>
        ) : null}
        {finding.recommendation ? (
          <>
            <dt>{t('finding.recommendation')}</dt>
            <dd>{finding.recommendation}</dd>
          </>
        ) : null}
        <dt>{t('finding.source')}</dt>
        <dd>{finding.source}</dd>
        {finding.evidence ? (
          <>
            <dt>{t('finding.evidence')}</dt>
            <dd>{finding.evidence}</dd>
          </>
        ) : null}
      </dl>
      {acknowledgement ? (
        <p className={`finding-ack ${acknowledgement.active ? '' : 'finding-ack-expired'}`} data-testid="finding-acknowledgement">
          <strong>{acknowledgement.active ? t('finding.acknowledged') : t('finding.ackExpired')}</strong>{' '}
          {t(acknowledgement.active ? 'finding.ackActive' : 'finding.ackEnded', {
            who: person(acknowledgement.acknowledged_by, acknowledgement.acknowledged_by_name),
            when: formatDateTime(acknowledgement.acknowledged_at, locale),
            until: formatDateTime(acknowledgement.expires_at, locale),
            reason: acknowledgement.reason,
          })}
        </p>
      ) : null}
      {children}
    </article>
  );
}

/** Findings most severe first, each with `extra(finding)` below it (the acknowledge form). */
export function FindingList({ findings, extra, label }: { findings: FindingView[]; extra?: (finding: FindingView) => ReactNode; label: string }) {
  return (
    <ul className="finding-list" aria-label={label}>
      {sortFindings(findings).map((finding) => (
        <li key={finding.key}>
          <FindingCard finding={finding}>{extra?.(finding)}</FindingCard>
        </li>
      ))}
    </ul>
  );
}
