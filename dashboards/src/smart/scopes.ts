// SMART scopes in plain words, in the user's language: `patient/Observation.rs` reads "See
// results and measurements (the record of the patient chosen)". SMART v2 permissions
// (`c r u d s`) and v1 (`read`, `write`, `*`); `?param=value` narrows; the launch, identity
// and refresh scopes have their own sentences. A scope it cannot read keeps the server's words.

import { isMessageKey, translate as t } from '../i18n/core';

const RESOURCE_SCOPE = /^(patient|user|system)\/([A-Za-z]+|\*)\.(read|write|\*|[cruds]+)(\?.*)?$/;

/** What a permission string allows, as action keys (`see`, `change`, `delete`). */
export function scopeActions(permissions: string): ('see' | 'change' | 'delete')[] {
  const letters = permissions === 'read' ? 'rs' : permissions === 'write' ? 'cud' : permissions === '*' ? 'cruds' : permissions;
  const actions: ('see' | 'change' | 'delete')[] = [];
  if (/[rs]/.test(letters)) actions.push('see');
  if (/[cu]/.test(letters)) actions.push('change');
  if (letters.includes('d')) actions.push('delete');
  return actions;
}

/** The kind of record a resource type is (`*`: everything). */
function what(type: string): string {
  if (type === '*') return t('smart.what.all');
  const key = `type.${type}`;
  return isMessageKey(key) ? t(key) : type;
}

/** `scope` in words; `fallback` (the server's description) when it is not a scope this knows. */
export function describeScope(scope: string, fallback = scope): string {
  const resource = RESOURCE_SCOPE.exec(scope);
  if (resource) {
    const [, context, type, permissions, query] = resource;
    const actions = scopeActions(permissions)
      .map((action) => t(`smart.action.${action}`))
      .join(t('smart.and'));
    const sentence = t('smart.scope.resource', { actions, what: what(type), whose: t(`smart.whose.${context as 'patient' | 'user' | 'system'}`) });
    return query ? `${sentence} ${t('smart.scope.only', { filter: decodeURIComponent(query.slice(1)).replace(/&/g, ', ') })}` : sentence;
  }
  const fixed = `smart.scope.${scope}`;
  return isMessageKey(fixed) ? t(fixed) : fallback;
}
