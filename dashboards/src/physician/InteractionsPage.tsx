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
import { translate as t } from '../i18n/core';

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
          {t('rx.unknownDrugs', { names: unknown.map((m) => m.input).join(', ') })}
        </p>
      ) : null}
      {check.findings.length ? (
        <FindingList findings={check.findings} label={t('rx.found')} />
      ) : (
        <p className="state state-empty" data-testid="no-findings">
          {t('rx.noneFound')}
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
      <PageTitle>{t('nav.interactions')}</PageTitle>
      <Section title={t('rx.drugs')} id="drugs">
        <p className="muted">{t('rx.intro')}</p>
        <DrugPicker label={t('rx.add')} onChoose={(next) => setDrugs((list) => addDrug(list, next))} clearOnChoose />
        {drugs.length ? (
          <ul className="chips" aria-label={t('rx.toCheck')}>
            {drugs.map((drug) => {
              const name = prescribedName(drug);
              return (
                <li key={name} className="chip">
                  {name}
                  <button type="button" className="chip-remove" aria-label={t('rx.remove', { name })} onClick={() => setDrugs((list) => list.filter((d) => d !== drug))}>
                    ×
                  </button>
                </li>
              );
            })}
          </ul>
        ) : null}
        {drugs.length >= MAX_DRUGS ? <p className="hint">{t('rx.max', { max: MAX_DRUGS })}</p> : null}
      </Section>
      <Section title={t('rx.interactions')} id="interactions">
        <div aria-live="polite">
          {drugs.length < 2 ? (
            <p className="state state-empty">{t('rx.addTwo')}</p>
          ) : check.isPending ? (
            <Loading label={t('rx.checking')} />
          ) : check.isError ? (
            <ErrorMessage error={check.error} title={t('rx.failed')} />
          ) : (
            <Result check={check.data} />
          )}
        </div>
      </Section>
    </>
  );
}
