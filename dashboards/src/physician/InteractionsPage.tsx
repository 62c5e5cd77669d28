// The stand-alone drug-interaction checker: several drugs, no patient; every interaction
// between them (the server checks each pair), most severe first.

import { useState } from 'react';
import { ErrorMessage, Loading, PageTitle, Section } from '../ui/components';
import { medicationInput, prescribedName, type Prescribed } from '../api/clinical';
import type { DrugCheckReport } from '../api/types';
import { DrugPicker } from './DrugPicker';
import { FindingList } from './FindingCard';
import { CheckWarnings } from './PrescribePanel';
import { useInteractionCheck } from './hooks';

export const MAX_DRUGS = 20;

/** The chosen list with `next` added, unless the same name is there already or it is full. */
export function addDrug(list: Prescribed[], next: Prescribed): Prescribed[] {
  const name = prescribedName(next).toLowerCase();
  if (list.length >= MAX_DRUGS || list.some((item) => prescribedName(item).toLowerCase() === name)) return list;
  return [...list, next];
}

function Result({ check }: { check: DrugCheckReport }) {
  const unknown = check.medications.filter((m) => !m.recognised);
  return (
    <>
      <CheckWarnings warnings={check.warnings} />
      {unknown.length ? (
        <p className="notice" data-testid="unrecognised">
          Not in the drug knowledge base (only exact name matches were checked): {unknown.map((m) => m.input).join(', ')}.
        </p>
      ) : null}
      {check.findings.length ? (
        <FindingList findings={check.findings} label="Interactions found" />
      ) : (
        <p className="state state-empty" data-testid="no-findings">
          No interactions found between these drugs.
        </p>
      )}
    </>
  );
}

export function InteractionsPage() {
  const [drugs, setDrugs] = useState<Prescribed[]>([]);
  const check = useInteractionCheck(undefined, drugs.map(medicationInput), 2);
  return (
    <>
      <PageTitle>Interaction checker</PageTitle>
      <Section title="Drugs" id="drugs">
        <p className="muted">Check drugs against each other, without a patient. To check against a patient’s record, prescribe from their page.</p>
        <DrugPicker label="Add a drug" onChoose={(next) => setDrugs((list) => addDrug(list, next))} clearOnChoose />
        {drugs.length ? (
          <ul className="chips" aria-label="Drugs to check">
            {drugs.map((drug) => {
              const name = prescribedName(drug);
              return (
                <li key={name} className="chip">
                  {name}
                  <button type="button" className="chip-remove" aria-label={`Remove ${name}`} onClick={() => setDrugs((list) => list.filter((d) => d !== drug))}>
                    ×
                  </button>
                </li>
              );
            })}
          </ul>
        ) : null}
        {drugs.length >= MAX_DRUGS ? <p className="hint">At most {MAX_DRUGS} drugs at once.</p> : null}
      </Section>
      <Section title="Interactions" id="interactions">
        <div aria-live="polite">
          {drugs.length < 2 ? (
            <p className="state state-empty">Add at least two drugs to check them against each other.</p>
          ) : check.isPending ? (
            <Loading label="Checking…" />
          ) : check.isError ? (
            <ErrorMessage error={check.error} title="The check failed" />
          ) : (
            <Result check={check.data} />
          )}
        </div>
      </Section>
    </>
  );
}
