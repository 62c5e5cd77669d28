// Prescribing for a patient: choose a drug (or type one), optional dose; the drug is checked
// against the patient's active medications and allergies as soon as it is chosen, each finding
// shown as a card; a blocking finding (contraindicated, or a serious allergy conflict, not yet
// acknowledged) must be acknowledged
// with a reason before Sign is enabled. Signing creates the MedicationRequest; the server
// refuses it (409) on a blocking finding the check here did not know of.

import { useState } from 'react';
import { useMutation, useQueryClient } from '@tanstack/react-query';
import { useClient } from '../ui/session';
import { ErrorMessage, Field, Loading, Section } from '../ui/components';
import { ApiError } from '../api/client';
import { isBlocking, medicationInput, medicationRequest, prescribedName, type Prescribed } from '../api/clinical';
import type { DrugCheckReport } from '../api/types';
import { AcknowledgeForm } from './AcknowledgeForm';
import { DrugPicker } from './DrugPicker';
import { FindingList } from './FindingCard';
import { useInteractionCheck } from './hooks';
import { translate as t } from '../i18n/core';

/** One line on what the check covered. */
export function checkSummary(check: DrugCheckReport): string {
  const n = check.findings.length;
  const found = n === 0 ? t('rx.summary.none') : t('rx.summary.findings', { count: n });
  const meds = t('rx.summary.meds', { count: check.active_medications });
  const allergies = t('rx.summary.allergies', { count: check.allergies });
  const unknown = check.medications.filter((m) => !m.recognised).map((m) => m.input);
  const notice = unknown.length ? ` ${t('rx.summary.unknown', { names: unknown.join(', ') })}` : '';
  return `${t('rx.summary', { found, meds, allergies })}${notice}`;
}

/** What limited a check (a degraded knowledge source, a truncated record), if anything. */
export function CheckWarnings({ warnings }: { warnings: string[] }) {
  if (!warnings.length) return null;
  return (
    <div className="notice check-warnings" data-testid="check-warnings">
      <strong>{t('rx.limited')}</strong>
      <ul>
        {warnings.map((warning) => (
          <li key={warning}>{warning}</li>
        ))}
      </ul>
    </div>
  );
}

/** Why Sign is disabled, or null when it is not. */
export function signBlocker(chosen: Prescribed | null, check: { isPending: boolean; isError: boolean; data?: DrugCheckReport }): string | null {
  if (!chosen) return t('rx.block.choose');
  if (check.isPending) return t('rx.block.checking');
  if (check.isError || !check.data) return t('rx.block.failed');
  if (check.data.blocking) return t('rx.block.acknowledge');
  return null;
}

export function PrescribePanel({ patientId }: { patientId: string }) {
  const client = useClient();
  const queryClient = useQueryClient();
  const [chosen, setChosen] = useState<Prescribed | null>(null);
  const [dose, setDose] = useState('');
  const [round, setRound] = useState(0);
  const [signed, setSigned] = useState<string | null>(null);
  const medications = chosen ? [medicationInput(chosen)] : [];
  const check = useInteractionCheck(patientId, medications);
  // The server keeps every check: re-check only when the answer may have changed.
  const recheck = () => queryClient.invalidateQueries({ queryKey: ['clinical'] });
  const refreshHistory = () => queryClient.invalidateQueries({ queryKey: ['clinical', 'history', patientId] });
  const sign = useMutation({
    mutationFn: (prescribed: Prescribed) => client.create(medicationRequest(patientId, prescribed, dose)),
    onSuccess: (_created, prescribed) => {
      setSigned(`${prescribedName(prescribed)}${dose.trim() ? `, ${dose.trim()}` : ''}`);
      setChosen(null);
      setDose('');
      setRound((n) => n + 1);
      void queryClient.invalidateQueries({ queryKey: ['fhir', 'MedicationRequest', patientId] });
      void refreshHistory();
    },
    onError: (error) => {
      // The record changed since the check (or the check missed something): check again.
      if (error instanceof ApiError && error.status === 409) void recheck();
    },
  });
  const choose = (next: Prescribed) => {
    setChosen(next);
    setSigned(null);
    sign.reset();
  };
  const blocker = signBlocker(chosen, check);
  const submit = () => {
    if (chosen && !blocker) sign.mutate(chosen);
  };
  return (
    <Section title={t('detail.prescribe')} id="prescribe">
      {/* Not a form: each blocking finding holds its own acknowledge form. */}
      <div className="prescribe">
        <div className="inline-form">
          <DrugPicker key={round} onChoose={choose} />
          <Field label={t('rx.dose')} id="prescribe-dose">
            <input id="prescribe-dose" value={dose} onChange={(event) => setDose(event.target.value)} placeholder={t('rx.dose.placeholder')} />
          </Field>
        </div>
        <div aria-live="polite" className="prescribe-check">
          {chosen && check.isPending ? <Loading label={t('rx.checkingDrug', { name: prescribedName(chosen) })} /> : null}
          {chosen && check.isError ? <ErrorMessage error={check.error} title={t('rx.checkFailed')} /> : null}
          {chosen && check.data ? (
            <p className="check-summary" data-testid="check-summary">
              <strong>{prescribedName(chosen)}:</strong> {checkSummary(check.data)}
            </p>
          ) : null}
          {chosen && check.data ? <CheckWarnings warnings={check.data.warnings} /> : null}
        </div>
        {chosen && check.data && check.data.findings.length ? (
          <FindingList
            label={t('rx.findingsFor', { name: prescribedName(chosen) })}
            findings={check.data.findings}
            extra={(finding) =>
              isBlocking(finding) ? <AcknowledgeForm patientId={patientId} finding={finding} onAcknowledged={() => void recheck()} /> : null
            }
          />
        ) : null}
        <div className="sign-row">
          <button type="button" className="primary" onClick={submit} disabled={Boolean(blocker) || sign.isPending} aria-describedby="prescribe-blocker">
            {sign.isPending ? t('rx.signing') : t('rx.sign')}
          </button>
          <span className="hint" id="prescribe-blocker">
            {chosen ? blocker : null}
          </span>
        </div>
        {sign.isError ? (
          <div className="state state-error" role="alert" data-testid="sign-error">
            <strong>{sign.error instanceof ApiError && sign.error.status === 409 ? t('rx.refused') : t('rx.signFailed')}.</strong>{' '}
            {sign.error.message}
          </div>
        ) : null}
        {signed ? (
          <p className="notice notice-good" role="status" data-testid="sign-success">
            {t('rx.signed', { name: signed ?? '' })}
          </p>
        ) : null}
      </div>
    </Section>
  );
}
