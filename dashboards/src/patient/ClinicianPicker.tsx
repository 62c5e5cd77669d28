// Finding a clinician by name for the Sharing page: a combobox (ARIA 1.2, list popup) over the
// clinician directory, searched as the patient types (debounced). Arrow keys move through
// the results, Enter chooses, Escape closes; choosing one hands it to `onChoose`.

import { useId, useState, type KeyboardEvent } from 'react';
import { useQuery } from '@tanstack/react-query';
import { useClient } from '../ui/session';
import { useDebouncedValue } from '../ui/components';
import type { Clinician } from '../api/types';
import { translate as t } from '../i18n/core';

/** Characters the directory needs before it searches. */
export const MIN_QUERY = 2;
/** Milliseconds of quiet typing before a search is sent. */
export const DEBOUNCE_MS = 250;

/** The directory query of what the patient typed: trimmed, or null when too short. */
export function directoryTerm(text: string): string | null {
  const term = text.trim();
  return [...term].length >= MIN_QUERY ? term : null;
}

/** How a clinician is named in the results (the directory never gives an e-mail). */
export function clinicianLabel(clinician: Clinician): string {
  return clinician.name ?? t('sharing.unnamed');
}

/** What the live region says about the search. */
export function resultsStatus(term: string | null, pending: boolean, count: number, failed: boolean): string {
  if (term === null) return t('picker.tooShort', { min: MIN_QUERY });
  if (failed) return t('picker.failed');
  if (pending) return t('search.searching');
  if (count === 0) return t('picker.none');
  return t('picker.found', { count });
}

export function ClinicianPicker({ onChoose }: { onChoose: (clinician: Clinician) => void }) {
  const client = useClient();
  const id = useId();
  const listId = `${id}-list`;
  const [text, setText] = useState('');
  const [open, setOpen] = useState(false);
  const [active, setActive] = useState(-1);
  const typed = directoryTerm(text);
  const term = useDebouncedValue(typed, DEBOUNCE_MS);
  const results = useQuery({
    queryKey: ['directory', 'clinicians', term],
    queryFn: () => client.clinicians(term ?? ''),
    enabled: term !== null,
    staleTime: 30_000,
  });
  // Results of an older text are not offered while the new one waits for its debounce.
  const settled = term !== null && term === typed;
  const options = settled ? (results.data ?? []) : [];
  const expanded = open && options.length > 0;
  const choose = (clinician: Clinician) => {
    setText(clinicianLabel(clinician));
    setOpen(false);
    setActive(-1);
    onChoose(clinician);
  };
  const onKeyDown = (event: KeyboardEvent<HTMLInputElement>) => {
    if (event.key === 'ArrowDown' || event.key === 'ArrowUp') {
      event.preventDefault();
      if (!options.length) return;
      setOpen(true);
      const step = event.key === 'ArrowDown' ? 1 : -1;
      setActive((current) => (current + step + options.length) % options.length);
    } else if (event.key === 'Enter' && expanded && active >= 0) {
      event.preventDefault(); // choose, do not submit the form
      choose(options[active]);
    } else if (event.key === 'Escape' && expanded) {
      event.preventDefault();
      setOpen(false);
      setActive(-1);
    }
  };
  return (
    <div className="field combobox">
      <label htmlFor={`${id}-input`}>{t('picker.label')}</label>
      <input
        id={`${id}-input`}
        type="search"
        role="combobox"
        autoComplete="off"
        aria-autocomplete="list"
        aria-expanded={expanded}
        aria-controls={listId}
        aria-activedescendant={expanded && active >= 0 ? `${id}-option-${active}` : undefined}
        aria-describedby={`${id}-status`}
        value={text}
        onChange={(event) => {
          setText(event.target.value);
          setOpen(true);
          setActive(-1);
        }}
        onKeyDown={onKeyDown}
        onFocus={() => setOpen(true)}
        onBlur={() => setOpen(false)}
      />
      <ul id={listId} role="listbox" aria-label={t('picker.list')} className="combobox-list" hidden={!expanded}>
        {options.map((clinician, index) => (
          <li
            key={clinician.id}
            id={`${id}-option-${index}`}
            role="option"
            aria-selected={index === active}
            className={index === active ? 'active' : undefined}
            // Keep the focus in the input so the blur does not close the list before the click.
            onMouseDown={(event) => event.preventDefault()}
            onClick={() => choose(clinician)}
          >
            <span className="combobox-name">{clinicianLabel(clinician)}</span>
            {/* Names, not ids (issue #16): an id only tells apart two results of one name. */}
            {options.filter((o) => clinicianLabel(o) === clinicianLabel(clinician)).length > 1 ? (
              <>
                {' '}
                <code className="muted">{clinician.id}</code>
              </>
            ) : null}
          </li>
        ))}
      </ul>
      <p className="hint" id={`${id}-status`} role="status" aria-live="polite">
        {text.trim() ? resultsStatus(typed, !settled || results.isFetching, options.length, results.isError) : t('picker.orPaste')}
      </p>
    </div>
  );
}
