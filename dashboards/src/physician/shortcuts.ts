// The physician portal's keyboard shortcuts: Ctrl-K (or ⌘K) opens the command palette from
// anywhere, `/` opens search, `?` lists the shortcuts, and `g` then a letter goes to a page.
// Single keys are ignored while the user types in a field.

import type { MessageKey } from '../i18n/core';

export interface Shortcut {
  /** The keys, in order (`Ctrl+K`, or `g` then `p`). */
  keys: string[];
  /** `palette`, `help`, `search`, or `go:<path>`. */
  action: string;
  label: MessageKey;
}

export const SHORTCUTS: Shortcut[] = [
  { keys: ['Ctrl+K'], action: 'palette', label: 'shortcuts.palette' },
  { keys: ['/'], action: 'go:/search', label: 'shortcuts.search' },
  { keys: ['?'], action: 'help', label: 'shortcuts.help' },
  { keys: ['g', 'd'], action: 'go:/', label: 'shortcuts.dashboard' },
  { keys: ['g', 'p'], action: 'go:/patients', label: 'shortcuts.patients' },
  { keys: ['g', 's'], action: 'go:/search', label: 'shortcuts.searchPage' },
  { keys: ['g', 'c'], action: 'go:/consents', label: 'shortcuts.consents' },
  { keys: ['g', 'i'], action: 'go:/interactions', label: 'shortcuts.interactions' },
  { keys: ['g', 'n'], action: 'go:/notifications', label: 'shortcuts.notifications' },
];

/** What a key press needs of its event. */
export interface KeyPress {
  key: string;
  ctrlKey?: boolean;
  metaKey?: boolean;
  altKey?: boolean;
  /** Whether focus is in a text field (single-key shortcuts are off there). */
  typing?: boolean;
}

/** Whether `target` takes typed text. */
export function isTyping(target: EventTarget | null): boolean {
  if (!target || typeof (target as HTMLElement).tagName !== 'string') return false;
  const element = target as HTMLElement;
  const tag = element.tagName.toLowerCase();
  if (tag === 'textarea' || tag === 'select' || element.isContentEditable) return true;
  if (tag !== 'input') return false;
  const type = (element as HTMLInputElement).type;
  return !['checkbox', 'radio', 'button', 'submit', 'reset', 'file', 'range', 'color'].includes(type);
}

/**
 * The action of `press` given the first key of a sequence typed just before (`pending`), and
 * the pending key afterwards (`g` waits for its letter).
 */
export function shortcutAction(press: KeyPress, pending: string | null): { action?: string; pending: string | null } {
  const key = press.key.length === 1 ? press.key.toLowerCase() : press.key;
  if ((press.ctrlKey || press.metaKey) && !press.altKey && key === 'k') return { action: 'palette', pending: null };
  if (press.ctrlKey || press.metaKey || press.altKey || press.typing) return { pending: null };
  if (pending) {
    const match = SHORTCUTS.find((s) => s.keys.length === 2 && s.keys[0] === pending && s.keys[1] === key);
    return { action: match?.action, pending: null };
  }
  if (SHORTCUTS.some((s) => s.keys.length === 2 && s.keys[0] === key)) return { pending: key };
  const single = SHORTCUTS.find((s) => s.keys.length === 1 && s.keys[0] === press.key);
  return { action: single?.action, pending: null };
}
