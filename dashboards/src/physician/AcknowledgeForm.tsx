// Acknowledging a blocking finding for a patient: a reason (10–500 characters, checked here
// before the server sees it) and an optional last day; the server records it as a
// DetectedIssue and the prescription can then be signed.

import { useId, useState, type FormEvent } from 'react';
import { useMutation } from '@tanstack/react-query';
import { useClient } from '../ui/session';
import { FormError } from '../ui/components';
import { endOfDay } from '../patient/ConsentsPage';
import type { Acknowledgement, FindingView } from '../api/types';
import { translate as t } from '../i18n/core';

export const REASON_MIN = 10;
export const REASON_MAX = 500;
const YEAR_MS = 365 * 86_400_000;

export interface AcknowledgementProblems {
  reason?: string;
  expiry?: string;
}

/** What is wrong with a reason and an optional `yyyy-mm-dd` last day (empty: nothing). */
export function acknowledgementProblems(reason: string, expiry: string, now: Date = new Date()): AcknowledgementProblems {
  const problems: AcknowledgementProblems = {};
  const length = [...reason.trim()].length;
  if (length < REASON_MIN) {
    problems.reason = t('ack.tooShort', { min: REASON_MIN, length });
  } else if (length > REASON_MAX) {
    problems.reason = t('ack.tooLong', { max: REASON_MAX, length });
  }
  if (expiry) {
    const end = new Date(endOfDay(expiry)).getTime();
    if (Number.isNaN(end)) problems.expiry = t('ack.notDate');
    else if (end <= now.getTime()) problems.expiry = t('ack.past');
    else if (end > now.getTime() + YEAR_MS) problems.expiry = t('ack.tooFar');
  }
  return problems;
}

/** `yyyy-mm-dd` of a date in the local time zone. */
function isoDay(date: Date): string {
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}`;
}

export function AcknowledgeForm({
  patientId,
  finding,
  onAcknowledged,
}: {
  patientId: string;
  finding: FindingView;
  onAcknowledged: (acknowledgement: Acknowledgement) => void;
}) {
  const client = useClient();
  const id = useId();
  const [reason, setReason] = useState('');
  const [expiry, setExpiry] = useState('');
  const [submitted, setSubmitted] = useState(false);
  const problems = acknowledgementProblems(reason, expiry);
  const acknowledge = useMutation({
    mutationFn: () =>
      client.acknowledge({
        patient: patientId,
        finding: finding.key,
        reason: reason.trim(),
        expires_at: expiry ? endOfDay(expiry) : undefined,
      }),
    onSuccess: onAcknowledged,
  });
  const submit = (event: FormEvent) => {
    event.preventDefault();
    setSubmitted(true);
    if (!problems.reason && !problems.expiry) acknowledge.mutate();
  };
  const now = new Date();
  const lastDay = new Date(now.getTime() + YEAR_MS - 86_400_000);
  const showReason = submitted && problems.reason;
  const showExpiry = submitted && problems.expiry;
  return (
    <form className="acknowledge" onSubmit={submit} noValidate aria-label={t('ack.form', { summary: finding.summary })}>
      <p className="acknowledge-intro">
        {t('ack.intro')}
      </p>
      <div className="field">
        <label htmlFor={`${id}-reason`}>{t('ack.reason')}</label>
        <textarea
          id={`${id}-reason`}
          rows={3}
          maxLength={REASON_MAX}
          value={reason}
          aria-invalid={showReason ? true : undefined}
          aria-describedby={`${id}-reason-hint${showReason ? ` ${id}-reason-error` : ''}`}
          onChange={(event) => setReason(event.target.value)}
        />
        <p className="hint" id={`${id}-reason-hint`}>
          {t('ack.reason.hint', { min: REASON_MIN, max: REASON_MAX })}
        </p>
        {showReason ? (
          <p className="form-error" id={`${id}-reason-error`} role="alert">
            {problems.reason}
          </p>
        ) : null}
      </div>
      <div className="field">
        <label htmlFor={`${id}-expiry`}>{t('ack.until')}</label>
        <input
          id={`${id}-expiry`}
          type="date"
          min={isoDay(now)}
          max={isoDay(lastDay)}
          value={expiry}
          aria-invalid={showExpiry ? true : undefined}
          aria-describedby={`${id}-expiry-hint${showExpiry ? ` ${id}-expiry-error` : ''}`}
          onChange={(event) => setExpiry(event.target.value)}
        />
        <p className="hint" id={`${id}-expiry-hint`}>
          {t('ack.until.hint')}
        </p>
        {showExpiry ? (
          <p className="form-error" id={`${id}-expiry-error`} role="alert">
            {problems.expiry}
          </p>
        ) : null}
      </div>
      <button type="submit" className="danger" disabled={acknowledge.isPending}>
        {acknowledge.isPending ? t('ack.acknowledging') : t('ack.acknowledge')}
      </button>
      <FormError error={acknowledge.error} />
    </form>
  );
}
