// Settings → Your details (patients): the name, date of birth, gender and phone in their
// record, corrected here. Saving writes a new version of their Patient (audited) and renames
// the account to match.

import { useEffect, useState, type FormEvent } from 'react';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useClient } from './session';
import { FormError, QueryState, Section } from './components';
import { DemographicsFields } from './DemographicsFields';
import { EMPTY_DEMOGRAPHICS, FIELD_IDS, demographicsProblem, toDemographics, toForm, type Problem } from './demographics';
import { translate as t } from '../i18n/core';

export function YourDetailsSection() {
  const client = useClient();
  const queryClient = useQueryClient();
  const stored = useQuery({ queryKey: ['demographics'], queryFn: () => client.demographics() });
  const [form, setForm] = useState(EMPTY_DEMOGRAPHICS);
  const [problem, setProblem] = useState<Problem | null>(null);
  useEffect(() => {
    if (stored.data) setForm(toForm(stored.data));
  }, [stored.data]);
  const save = useMutation({
    mutationFn: () => client.saveDemographics(toDemographics(form)),
    onSuccess: (saved) => {
      queryClient.setQueryData(['demographics'], saved);
      // The account's name and the record follow.
      return Promise.all([queryClient.invalidateQueries({ queryKey: ['me'] }), queryClient.invalidateQueries({ queryKey: ['fhir'] })]);
    },
  });
  const submit = (event: FormEvent) => {
    event.preventDefault();
    const found = demographicsProblem(form);
    setProblem(found);
    if (found) {
      document.getElementById(FIELD_IDS[found.field])?.focus();
      return;
    }
    save.mutate();
  };
  return (
    <Section title={t('demo.title')}>
      <QueryState query={stored} loadingLabel={t('summary.loading')}>
        {() => (
          <form onSubmit={submit} noValidate data-testid="your-details">
            <p className="muted">{t('demo.intro')}</p>
            <DemographicsFields
              value={form}
              onChange={(next) => {
                setForm(next);
                save.reset();
              }}
              problem={problem}
            />
            <FormError error={save.error} />
            {save.isSuccess ? <p role="status">{t('demo.saved')}</p> : null}
            <button type="submit" className="primary" disabled={save.isPending}>
              {save.isPending ? t('prefs.saving') : t('demo.save')}
            </button>
          </form>
        )}
      </QueryState>
    </Section>
  );
}
