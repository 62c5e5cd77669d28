// The patient's timeline: every record of theirs (one `$everything` request), newest first,
// grouped by year and filterable by kind and text; and the download of the whole record as a
// FHIR JSON file.

import { useMemo, useState } from 'react';
import { useMutation, useQuery } from '@tanstack/react-query';
import { useSession } from '../ui/session';
import { Field, FormError, PageTitle, QueryState, Section } from '../ui/components';
import { useI18n } from '../i18n/I18nProvider';
import { formatDate } from '../fhir/format';
import { kindLabel } from '../fhir/timeline';
import { bundleWarning, filterTimeline, groupByYear, kindsOf, recordFile, recordTimeline, saveFile } from './record';

export function TimelinePage() {
  const { client, user } = useSession();
  const { t, locale } = useI18n();
  const id = user?.patient_id ?? '';
  const [kind, setKind] = useState('');
  const [text, setText] = useState('');
  const record = useQuery({ queryKey: ['fhir', 'everything', id], enabled: Boolean(id), queryFn: () => client.everything(id) });
  const entries = useMemo(() => (record.data ? recordTimeline(record.data, locale) : []), [record.data, locale]);
  const download = useMutation({
    // Always the record as it is now (not the page's copy).
    mutationFn: async () => {
      const bundle = await client.everything(id);
      saveFile(recordFile(bundle, new Date().toISOString().slice(0, 10)));
      return bundle;
    },
  });
  const shown = filterTimeline(entries, kind, text);
  const warning = record.data ? bundleWarning(record.data) : undefined;
  return (
    <>
      <PageTitle
        actions={
          <button type="button" onClick={() => download.mutate()} disabled={download.isPending || !id}>
            {download.isPending ? t('timeline.downloading') : t('timeline.download')}
          </button>
        }
      >
        {t('timeline.title')}
      </PageTitle>
      <FormError error={download.error} />
      {download.isSuccess ? (
        <p className="form-success" role="status">
          {t('timeline.downloaded', { count: (download.data.entry ?? []).length })}
        </p>
      ) : null}
      <p className="muted">{t('timeline.download.hint')}</p>
      {warning ? (
        <p className="notice" role="note">
          {t('timeline.capped')}
        </p>
      ) : null}
      <Section title={t('timeline.filter')} id="timeline-filter">
        <form className="inline-form" role="search" onSubmit={(e) => e.preventDefault()}>
          <Field label={t('timeline.kind')} id="timeline-kind">
            <select id="timeline-kind" value={kind} onChange={(e) => setKind(e.target.value)}>
              <option value="">{t('timeline.kind.all')}</option>
              {kindsOf(entries).map((k) => (
                <option key={k} value={k}>
                  {kindLabel(k)}
                </option>
              ))}
            </select>
          </Field>
          <Field label={t('timeline.text')} id="timeline-text">
            <input id="timeline-text" type="search" value={text} onChange={(e) => setText(e.target.value)} />
          </Field>
        </form>
        <p className="muted" role="status" aria-live="polite">
          {t('timeline.count', { count: shown.length })}
        </p>
      </Section>
      <QueryState query={record} loadingLabel={t('timeline.loading')}>
        {() =>
          shown.length === 0 ? (
            <Section title={t('timeline.title')}>
              <p className="state state-empty">{entries.length ? t('timeline.noMatch') : t('timeline.empty')}</p>
            </Section>
          ) : (
            groupByYear(shown).map((group) => (
              <Section key={group.year || 'undated'} id={`year-${group.year || 'undated'}`} title={group.year || t('timeline.undated')}>
                <ol className="timeline timeline-full" data-testid="timeline">
                  {group.entries.map((entry) => (
                    <li key={entry.key}>
                      <time dateTime={entry.at}>{formatDate(entry.at, locale)}</time>
                      <span className="timeline-kind">{kindLabel(entry.kind)}</span>
                      <span className="timeline-title">{entry.title || '—'}</span>
                      {entry.detail ? <span className="timeline-detail">{entry.detail}</span> : null}
                    </li>
                  ))}
                </ol>
              </Section>
            ))
          )
        }
      </QueryState>
    </>
  );
}
