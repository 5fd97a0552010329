import { badRequest } from '../http/errors.js';
import { GROUP_FIELDS, TIME_FIELDS } from '../store/sql/grouped-usage-sql.js';
import type { GroupField, UsageGrouping } from '../store/types.js';
import { knownTimeZone } from '../store/sql/zone-offsets.js';

/** More groups than this in one answer is a report nobody reads; the caller narrows the range instead. */
const MAX_GROUPS = 100_000;

/**
 * `groupBy=day,user&tz=Europe/Berlin`: one or two distinct fields, at most one
 * of them a time field, and an IANA zone (default UTC) that decides where an
 * hour, day or month starts. Undefined when no groupBy is given.
 */
export function parseGrouping(groupBy: string | undefined, tz: string | undefined): UsageGrouping | undefined {
  if (groupBy === undefined) {
    if (tz !== undefined) throw badRequest('invalid_parameter', "parameter 'tz' applies to groupBy only: add groupBy=day, hour or month");
    return undefined;
  }
  if (groupBy.trim() === '') throw badRequest('invalid_group_by', `parameter 'groupBy' is empty; give one or two of ${GROUP_FIELDS.join(', ')}`);
  const fields = groupBy.split(',').map((f) => f.trim());
  for (const field of fields) {
    if (!(GROUP_FIELDS as readonly string[]).includes(field)) {
      throw badRequest('invalid_group_by', `groupBy field '${field}' is not one of ${GROUP_FIELDS.join(', ')}`);
    }
  }
  if (fields.length > 2) throw badRequest('invalid_group_by', `groupBy takes one or two fields, not ${fields.length} ('${groupBy}')`);
  if (fields.length === 2 && fields[0] === fields[1]) throw badRequest('invalid_group_by', `groupBy names '${fields[0]}' twice`);
  if (fields.filter((f) => TIME_FIELDS.includes(f as GroupField)).length > 1) {
    throw badRequest('invalid_group_by', `groupBy takes at most one time field (hour, day or month), not '${groupBy}'`);
  }
  const timeZone = tz === undefined ? 'UTC' : knownTimeZone(tz);
  if (timeZone === undefined)
    throw badRequest('invalid_time_zone', `tz '${tz}' is not a time zone this proxy knows; use an IANA name such as UTC or Europe/Berlin`);
  return { fields: fields as GroupField[], timeZone, maxGroups: MAX_GROUPS };
}
