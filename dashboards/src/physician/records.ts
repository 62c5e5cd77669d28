// Where a search hit leads in the physician portal: a Patient to their page, any other
// record to the page of the patient it belongs to (read through the consent-guarded API).

import type { ApiClient } from '../api/client';
import type { SearchHit } from '../api/types';
import { referenceId } from '../fhir/format';

/** The patient a resource belongs to (`subject`, `patient`, or the Patient itself). */
export function patientOf(resource: fhir4.Resource): string | undefined {
  if (resource.resourceType === 'Patient') return resource.id;
  const record = resource as { subject?: fhir4.Reference; patient?: fhir4.Reference };
  for (const reference of [record.subject, record.patient]) {
    if (reference?.reference?.startsWith('Patient/')) return referenceId(reference);
  }
  return undefined;
}

/** The portal path of `hit` (`undefined`: it belongs to no patient). */
export async function hitPath(client: ApiClient, hit: SearchHit): Promise<string | undefined> {
  if (hit.resourceType === 'Patient') return `/patients/${encodeURIComponent(hit.id)}`;
  const resource = await client.read<fhir4.Resource>(hit.resourceType as fhir4.Resource['resourceType'], hit.id);
  const patient = patientOf(resource);
  return patient ? `/patients/${encodeURIComponent(patient)}` : undefined;
}
