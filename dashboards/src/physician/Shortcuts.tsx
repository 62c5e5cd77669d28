// The physician portal's keyboard layer: the header's buttons for the command palette and the
// shortcut list, and one keydown listener that turns shortcuts into actions (shortcuts.ts).

import { useEffect, useRef, useState } from 'react';
import { useNavigate } from 'react-router-dom';
import { Modal } from '../ui/Modal';
import { useI18n } from '../i18n/I18nProvider';
import { CommandPalette } from './CommandPalette';
import { SHORTCUTS, isTyping, shortcutAction } from './shortcuts';

/** How long `g` waits for its letter. */
const SEQUENCE_MS = 1500;

export function ShortcutList() {
  const { t } = useI18n();
  return (
    <table className="shortcuts" data-testid="shortcut-list">
      <caption className="visually-hidden">{t('shortcuts.title')}</caption>
      <thead>
        <tr>
          <th scope="col">{t('shortcuts.keys')}</th>
          <th scope="col">{t('shortcuts.does')}</th>
        </tr>
      </thead>
      <tbody>
        {SHORTCUTS.map((shortcut) => (
          <tr key={shortcut.keys.join(' ')}>
            <td>
              {shortcut.keys.map((key, index) => (
                <span key={key}>
                  {index > 0 ? ` ${t('shortcuts.then')} ` : null}
                  <kbd>{key === 'Ctrl+K' ? t('shortcuts.ctrlK') : key}</kbd>
                </span>
              ))}
            </td>
            <td>{t(shortcut.label)}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

export function PhysicianTools() {
  const { t } = useI18n();
  const navigate = useNavigate();
  const [open, setOpen] = useState<'palette' | 'help' | null>(null);
  const pending = useRef<{ key: string; at: number } | null>(null);
  useEffect(() => {
    const onKeyDown = (event: KeyboardEvent) => {
      if (event.defaultPrevented) return;
      const waiting = pending.current && Date.now() - pending.current.at < SEQUENCE_MS ? pending.current.key : null;
      const press = { key: event.key, ctrlKey: event.ctrlKey, metaKey: event.metaKey, altKey: event.altKey, typing: isTyping(event.target) };
      const result = shortcutAction(press, waiting);
      pending.current = result.pending ? { key: result.pending, at: Date.now() } : null;
      if (!result.action) return;
      // Inside an open dialog only Ctrl-K does something (it closes the palette).
      if (open) {
        if (result.action === 'palette') {
          event.preventDefault();
          setOpen(open === 'palette' ? null : 'palette');
        }
        return;
      }
      event.preventDefault();
      if (result.action === 'palette' || result.action === 'help') setOpen(result.action);
      else if (result.action.startsWith('go:')) navigate(result.action.slice(3));
    };
    window.addEventListener('keydown', onKeyDown);
    return () => window.removeEventListener('keydown', onKeyDown);
  }, [open, navigate]);
  return (
    <>
      <button type="button" className="palette-button" onClick={() => setOpen('palette')} aria-keyshortcuts="Control+K Meta+K">
        {t('palette.open')} <kbd aria-hidden="true">{t('shortcuts.ctrlK')}</kbd>
      </button>
      <button type="button" className="link-button" onClick={() => setOpen('help')} aria-keyshortcuts="?">
        {t('shortcuts.button')}
      </button>
      {open === 'palette' ? <CommandPalette onClose={() => setOpen(null)} onHelp={() => setOpen('help')} /> : null}
      {open === 'help' ? (
        <Modal id="shortcuts" title={t('shortcuts.title')} onClose={() => setOpen(null)}>
          <ShortcutList />
          <button type="button" onClick={() => setOpen(null)}>
            {t('common.close')}
          </button>
        </Modal>
      ) : null}
    </>
  );
}
