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

/** One line on what the check covered. */
export function checkSummary(check: DrugCheckReport): string {
  const n = check.findings.length;
  const found = n === 0 ? 'No interactions or allergy conflicts found' : `${n} finding${n === 1 ? '' : 's'}`;
  const meds = `${check.active_medications} active medication${check.active_medications === 1 ? '' : 's'}`;
  const allergies = `${check.allergies} recorded allerg${check.allergies === 1 ? 'y' : 'ies'}`;
  const unknown = check.medications.filter((m) => !m.recognised).map((m) => m.input);
  const notice = unknown.length ? ` ${unknown.join(', ')} is not in the drug knowledge base: only exact name matches were checked.` : '';
  return `${found} (checked against ${meds} and ${allergies}).${notice}`;
}

/** What limited a check (a degraded knowledge source, a truncated record), if anything. */
export function CheckWarnings({ warnings }: { warnings: string[] }) {
  if (!warnings.length) return null;
  return (
    <div className="notice check-warnings" data-testid="check-warnings">
      <strong>This check was limited:</strong>
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
  if (!chosen) return 'Choose a drug first.';
  if (check.isPending) return 'Checking for interactions…';
  if (check.isError || !check.data) return 'The interaction check failed; it must succeed before signing.';
  if (check.data.blocking) return 'Acknowledge each blocking finding before signing.';
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
    <Section title="Prescribe" id="prescribe">
      {/* Not a form: each blocking finding holds its own acknowledge form. */}
      <div className="prescribe">
        <div className="inline-form">
          <DrugPicker key={round} onChoose={choose} />
          <Field label="Dose and directions (optional)" id="prescribe-dose">
            <input id="prescribe-dose" value={dose} onChange={(event) => setDose(event.target.value)} placeholder="e.g. 20 mg once daily at night" />
          </Field>
        </div>
        <div aria-live="polite" className="prescribe-check">
          {chosen && check.isPending ? <Loading label={`Checking ${prescribedName(chosen)}…`} /> : null}
          {chosen && check.isError ? <ErrorMessage error={check.error} title="The interaction check failed" /> : null}
          {chosen && check.data ? (
            <p className="check-summary" data-testid="check-summary">
              <strong>{prescribedName(chosen)}:</strong> {checkSummary(check.data)}
            </p>
          ) : null}
          {chosen && check.data ? <CheckWarnings warnings={check.data.warnings} /> : null}
        </div>
        {chosen && check.data && check.data.findings.length ? (
          <FindingList
            label={`Findings for ${prescribedName(chosen)}`}
            findings={check.data.findings}
            extra={(finding) =>
              isBlocking(finding) ? <AcknowledgeForm patientId={patientId} finding={finding} onAcknowledged={() => void recheck()} /> : null
            }
          />
        ) : null}
        <div className="sign-row">
          <button type="button" className="primary" onClick={submit} disabled={Boolean(blocker) || sign.isPending} aria-describedby="prescribe-blocker">
            {sign.isPending ? 'Signing…' : 'Sign prescription'}
          </button>
          <span className="hint" id="prescribe-blocker">
            {chosen ? blocker : null}
          </span>
        </div>
        {sign.isError ? (
          <div className="state state-error" role="alert" data-testid="sign-error">
            <strong>{sign.error instanceof ApiError && sign.error.status === 409 ? 'Signing was refused' : 'Signing failed'}.</strong>{' '}
            {sign.error.message}
          </div>
        ) : null}
        {signed ? (
          <p className="notice notice-good" role="status" data-testid="sign-success">
            Prescription signed: {signed}. It is now on the medication list.
          </p>
        ) : null}
      </div>
    </Section>
  );
}
