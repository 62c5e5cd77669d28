// Choosing a drug: a combobox (ARIA 1.2, list popup) over `GET /api/clinical/drugs`, searched
// as the prescriber types (debounced), or the typed name as free text. Arrow keys move, Enter
// chooses (the highlighted drug, else the text as typed), Escape closes.

import { useId, useState, type KeyboardEvent } from 'react';
import { useQuery } from '@tanstack/react-query';
import { useClient } from '../ui/session';
import { useDebouncedValue } from '../ui/components';
import type { DrugView, Prescribed } from '../api/clinical';
import { translate as t } from '../i18n/core';

export const MIN_QUERY = 2;
export const DEBOUNCE_MS = 250;

/** The drug list's query of what was typed: trimmed, or null when too short. */
export function drugTerm(text: string): string | null {
  const term = text.trim();
  return [...term].length >= MIN_QUERY ? term : null;
}

/** The second line of an option: the generic name of a brand, and the classes. */
export function drugDetail(drug: DrugView): string {
  const parts: string[] = [];
  if (drug.brand && drug.generic && drug.generic.toLowerCase() !== drug.name.toLowerCase()) parts.push(t('rx.brandOf', { generic: drug.generic }));
  if (drug.classes.length) parts.push(drug.classes.join(', '));
  return parts.join(' · ');
}

export function drugsStatus(term: string | null, pending: boolean, count: number, failed: boolean): string {
  if (term === null) return t('rx.picker.tooShort', { min: MIN_QUERY });
  if (failed) return t('rx.picker.failed');
  if (pending) return t('search.searching');
  if (count === 0) return t('rx.picker.none');
  return t('rx.picker.found', { count });
}

export function DrugPicker({
  label = t('rx.choose'),
  onChoose,
  clearOnChoose = false,
}: {
  label?: string;
  onChoose: (chosen: Prescribed) => void;
  /** Empty the box after each choice (to add several drugs). */
  clearOnChoose?: boolean;
}) {
  const client = useClient();
  const id = useId();
  const listId = `${id}-list`;
  const [text, setText] = useState('');
  const [open, setOpen] = useState(false);
  const [active, setActive] = useState(-1);
  const [chosen, setChosen] = useState<string | null>(null);
  const typed = drugTerm(text);
  const term = useDebouncedValue(typed, DEBOUNCE_MS);
  const results = useQuery({
    queryKey: ['clinical', 'drugs', term],
    queryFn: () => client.drugs(term ?? '', 10),
    enabled: term !== null,
    staleTime: 60_000,
  });
  const settled = term !== null && term === typed;
  const options = settled ? (results.data ?? []) : [];
  const expanded = open && options.length > 0;
  const done = (name: string, choice: Prescribed) => {
    setText(clearOnChoose ? '' : name);
    setChosen(clearOnChoose ? null : name);
    setOpen(false);
    setActive(-1);
    onChoose(choice);
  };
  const chooseDrug = (drug: DrugView) => done(drug.name, { kind: 'drug', drug });
  const chooseText = () => {
    const name = text.trim();
    if (name && name !== chosen) done(name, { kind: 'text', text: name });
  };
  const unchosen = text.trim() !== '' && text.trim() !== chosen;
  const onKeyDown = (event: KeyboardEvent<HTMLInputElement>) => {
    if (event.key === 'ArrowDown' || event.key === 'ArrowUp') {
      event.preventDefault();
      if (!options.length) return;
      setOpen(true);
      const step = event.key === 'ArrowDown' ? 1 : -1;
      setActive((current) => (current + step + options.length) % options.length);
    } else if (event.key === 'Enter') {
      event.preventDefault(); // choose, do not submit a form
      if (expanded && active >= 0) chooseDrug(options[active]);
      else chooseText();
    } else if (event.key === 'Escape' && expanded) {
      event.preventDefault();
      setOpen(false);
      setActive(-1);
    }
  };
  return (
    <div className="field combobox">
      <label htmlFor={`${id}-input`}>{label}</label>
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
      <ul id={listId} role="listbox" aria-label={t('rx.drugs')} className="combobox-list" hidden={!expanded}>
        {options.map((drug, index) => (
          <li
            key={`${drug.name}-${drug.rxnorm ?? index}`}
            id={`${id}-option-${index}`}
            role="option"
            aria-selected={index === active}
            className={index === active ? 'active' : undefined}
            onMouseDown={(event) => event.preventDefault()}
            onClick={() => chooseDrug(drug)}
          >
            <span className="combobox-name">{drug.name}</span> <span className="muted">{drugDetail(drug)}</span>
          </li>
        ))}
      </ul>
      <p className="hint" id={`${id}-status`} role="status" aria-live="polite">
        {unchosen ? drugsStatus(typed, !settled || results.isFetching, options.length, results.isError) : t('rx.picker.hint')}
      </p>
      {unchosen && !expanded ? (
        <button type="button" className="link-button" onClick={chooseText}>
          {t('rx.asWritten', { text: text.trim() })}
        </button>
      ) : null}
    </div>
  );
}
