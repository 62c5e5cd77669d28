// The command palette (Ctrl-K): pages of the portal, patients by name (FHIR `Patient?name=`,
// consent-restricted) and records by text (`/api/search`, consent-safe), chosen with the
// arrow keys and Enter (a combobox over a listbox); "search everything" opens the search page.

import { useEffect, useMemo, useRef, useState, type KeyboardEvent } from 'react';
import { useQuery } from '@tanstack/react-query';
import { useNavigate } from 'react-router-dom';
import { useClient } from '../ui/session';
import { Modal } from '../ui/Modal';
import { useDebouncedValue } from '../ui/components';
import { useI18n } from '../i18n/I18nProvider';
import type { MessageKey } from '../i18n/core';
import { formatDate, patientName } from '../fhir/format';
import { filterCommands, moveSelection, type Command } from './palette';
import { hitPath } from './records';
import { typeLabel } from './SearchPage';

/** The pages of the portal as commands (English names kept as keywords in every language). */
export const PAGE_COMMANDS: { to: string; label: MessageKey; keywords: string[] }[] = [
  { to: '/', label: 'nav.dashboard', keywords: ['dashboard', 'home'] },
  { to: '/patients', label: 'nav.patients', keywords: ['patients'] },
  { to: '/search', label: 'nav.search', keywords: ['search', 'find'] },
  { to: '/consents', label: 'nav.consents', keywords: ['consents', 'access', 'grants', 'requests'] },
  { to: '/interactions', label: 'nav.interactions', keywords: ['interactions', 'drugs'] },
  { to: '/notifications', label: 'nav.notifications', keywords: ['notifications', 'inbox'] },
  { to: '/security', label: 'nav.security', keywords: ['security', 'totp'] },
  { to: '/settings', label: 'nav.settings', keywords: ['settings', 'language', 'password'] },
];

export function CommandPalette({ onClose, onHelp }: { onClose: () => void; onHelp: () => void }) {
  const client = useClient();
  const navigate = useNavigate();
  const { t, locale } = useI18n();
  const input = useRef<HTMLInputElement>(null);
  const [query, setQuery] = useState('');
  const [selected, setSelected] = useState(0);
  const [failure, setFailure] = useState('');
  const term = useDebouncedValue(query.trim(), 200);
  const searching = term.length >= 2;
  const patients = useQuery({
    queryKey: ['palette', 'patients', term],
    enabled: searching,
    queryFn: async () => (await client.searchAll<fhir4.Patient>('Patient', { name: term, _count: 5 }, 1)).resources.slice(0, 5),
  });
  const records = useQuery({ queryKey: ['palette', 'records', term], enabled: searching, queryFn: () => client.search(term, 6) });
  const items = useMemo<Command[]>(() => {
    const pages: Command[] = PAGE_COMMANDS.map((page) => ({ id: `page:${page.to}`, group: 'pages', label: t(page.label), keywords: page.keywords, to: page.to }));
    pages.push({ id: 'help', group: 'pages', label: t('shortcuts.title'), keywords: ['keyboard', 'shortcuts', 'help'], action: 'help' });
    const found: Command[] = searching
      ? [
          ...(patients.data ?? []).map<Command>((p) => ({
            id: `patient:${p.id}`,
            group: 'patients',
            label: patientName(p),
            hint: p.birthDate ? t('palette.born', { date: formatDate(p.birthDate, locale) }) : undefined,
            to: `/patients/${encodeURIComponent(p.id ?? '')}`,
          })),
          ...(records.data ?? [])
            .filter((hit) => !(hit.resourceType === 'Patient' && patients.data?.some((p) => p.id === hit.id)))
            .map<Command>((hit) => ({
              id: `record:${hit.resourceType}/${hit.id}`,
              // A patient the text search found is a patient all the same.
              group: hit.resourceType === 'Patient' ? 'patients' : 'records',
              label: hit.display || typeLabel(hit.resourceType, t),
              hint: typeLabel(hit.resourceType, t),
              action: `${hit.resourceType}/${hit.id}`,
            })),
        ]
      : [];
    const all = [...(query.trim() ? filterCommands(pages, query, 5) : pages), ...found];
    if (query.trim()) all.push({ id: 'search', group: 'search', label: t('palette.searchAll', { q: query.trim() }), to: `/search?q=${encodeURIComponent(query.trim())}` });
    return all;
  }, [t, locale, query, searching, patients.data, records.data]);
  useEffect(() => setSelected(0), [query]);
  const current = items[Math.min(selected, items.length - 1)];
  const run = async (command: Command | undefined) => {
    if (!command) return;
    if (command.to) {
      onClose();
      navigate(command.to);
    } else if (command.action === 'help') {
      onHelp();
    } else if (command.action) {
      const [resourceType, id] = command.action.split('/');
      try {
        const path = await hitPath(client, { resourceType, id });
        if (!path) {
          setFailure(t('search.noPatient'));
          return;
        }
        onClose();
        navigate(path);
      } catch (error) {
        setFailure(error instanceof Error ? error.message : String(error));
      }
    }
  };
  const onKeyDown = (event: KeyboardEvent<HTMLInputElement>) => {
    if (event.key === 'ArrowDown' || event.key === 'ArrowUp') {
      event.preventDefault();
      setSelected((index) => moveSelection(index, event.key === 'ArrowDown' ? 1 : -1, items.length));
    } else if (event.key === 'Enter') {
      event.preventDefault();
      void run(current);
    }
  };
  const loading = searching && (patients.isFetching || records.isFetching);
  const groups: { group: Command['group']; title: MessageKey }[] = [
    { group: 'pages', title: 'palette.pages' },
    { group: 'patients', title: 'palette.patients' },
    { group: 'records', title: 'palette.records' },
    { group: 'search', title: 'palette.search' },
  ];
  return (
    <Modal id="command-palette" title={t('palette.title')} onClose={onClose} initialFocus={input} className="palette">
      <input
        ref={input}
        type="text"
        role="combobox"
        aria-label={t('palette.input')}
        aria-expanded="true"
        aria-controls="palette-options"
        aria-autocomplete="list"
        aria-activedescendant={current ? `palette-${current.id}` : undefined}
        placeholder={t('palette.placeholder')}
        value={query}
        onChange={(e) => {
          setQuery(e.target.value);
          setFailure('');
        }}
        onKeyDown={onKeyDown}
        autoComplete="off"
        spellCheck={false}
      />
      <ul id="palette-options" role="listbox" aria-label={t('palette.results')} className="palette-options">
        {groups.map(({ group, title }) => {
          const members = items.filter((item) => item.group === group);
          if (!members.length) return null;
          return (
            <li key={group} role="presentation">
              <span className="palette-group" aria-hidden="true">
                {t(title)}
              </span>
              <ul role="group" aria-label={t(title)}>
                {members.map((item) => (
                  <li
                    key={item.id}
                    id={`palette-${item.id}`}
                    role="option"
                    aria-selected={item === current}
                    className={item === current ? 'selected' : undefined}
                    onMouseDown={(e) => e.preventDefault()}
                    onClick={() => void run(item)}
                  >
                    <span>{item.label}</span>
                    {item.hint ? <span className="muted"> · {item.hint}</span> : null}
                  </li>
                ))}
              </ul>
            </li>
          );
        })}
      </ul>
      <p className="muted palette-status" role="status" aria-live="polite">
        {failure || (loading ? t('palette.searching') : searching ? t('palette.count', { count: items.length }) : t('palette.hint'))}
      </p>
    </Modal>
  );
}
