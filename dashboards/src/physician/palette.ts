// The command palette's logic, free of React: which commands match what was typed (every
// word must start a word of the label or keywords, or failing that occur in them), in which
// order, and how the selection moves.

export type CommandGroup = 'pages' | 'patients' | 'records' | 'search';

export interface Command {
  id: string;
  group: CommandGroup;
  label: string;
  /** Shown after the label (a record's type, a patient's birth date…). */
  hint?: string;
  /** More words that find the command (English page names in every language, say). */
  keywords?: string[];
  /** Where it leads (a router path), or what it does. */
  to?: string;
  action?: string;
}

function words(text: string): string[] {
  return text
    .toLocaleLowerCase()
    .normalize('NFKD')
    .replace(/\p{M}/gu, '')
    .split(/[^\p{L}\p{N}]+/u)
    .filter(Boolean);
}

/**
 * How well `query` matches `command` (higher is better), or `null` when some word of the
 * query is in none of its words: 3 per word that starts a word, 1 per word found inside one,
 * plus 1 when the label starts with the query.
 */
export function matchScore(command: Command, query: string): number | null {
  const wanted = words(query);
  if (!wanted.length) return 0;
  const haystack = [...words(command.label), ...(command.keywords ?? []).flatMap(words)];
  let score = 0;
  for (const word of wanted) {
    if (haystack.some((candidate) => candidate.startsWith(word))) score += 3;
    else if (haystack.some((candidate) => candidate.includes(word))) score += 1;
    else return null;
  }
  if (words(command.label).join(' ').startsWith(wanted.join(' '))) score += 1;
  return score;
}

/** The commands matching `query`, best first (ties keep their order), at most `limit`. */
export function filterCommands(commands: Command[], query: string, limit = 8): Command[] {
  return commands
    .map((command, index) => ({ command, index, score: matchScore(command, query) }))
    .filter((item): item is { command: Command; index: number; score: number } => item.score !== null)
    .sort((a, b) => b.score - a.score || a.index - b.index)
    .slice(0, limit)
    .map((item) => item.command);
}

/** The selection after moving `delta` from `current` in a list of `length` (wrapping; -1 when empty). */
export function moveSelection(current: number, delta: number, length: number): number {
  if (length <= 0) return -1;
  if (current < 0) return delta >= 0 ? 0 : length - 1;
  return (((current + delta) % length) + length) % length;
}
