import { describe, expect, it } from 'vitest';
import { EMPTY_DEMOGRAPHICS, demographicsProblem, localToday, toDemographics, toForm, type DemographicsForm } from './demographics';

const ada: DemographicsForm = { given: ' Ada  Maria ', family: ' Example ', birthDate: '1985-12-10', gender: 'female', phone: '' };
const TODAY = '2024-06-01';

describe('demographics form', () => {
  it('makes the payload: names split and trimmed, an empty phone as none', () => {
    expect(toDemographics(ada)).toEqual({ given: ['Ada', 'Maria'], family: 'Example', birth_date: '1985-12-10', gender: 'female', phone: null });
    expect(toDemographics({ ...ada, phone: ' +1 555 0100 ' }).phone).toBe('+1 555 0100');
    expect(toForm(toDemographics(ada))).toEqual({ ...ada, given: 'Ada Maria', family: 'Example' });
  });

  it('accepts a complete form', () => {
    expect(demographicsProblem(ada, TODAY)).toBeNull();
    expect(demographicsProblem({ ...ada, birthDate: TODAY }, TODAY)).toBeNull();
    expect(demographicsProblem({ ...ada, phone: '(030) 123-45.6' }, TODAY)).toBeNull();
  });

  it('names the first problem the server would refuse', () => {
    expect(demographicsProblem(EMPTY_DEMOGRAPHICS, TODAY)?.field).toBe('given');
    expect(demographicsProblem({ ...ada, given: '   ' }, TODAY)?.field).toBe('given');
    expect(demographicsProblem({ ...ada, family: ' ' }, TODAY)?.field).toBe('family');
    expect(demographicsProblem({ ...ada, birthDate: '' }, TODAY)?.field).toBe('birth_date');
    expect(demographicsProblem({ ...ada, birthDate: '10.12.1985' }, TODAY)?.message).toMatch(/YYYY-MM-DD/);
    expect(demographicsProblem({ ...ada, birthDate: '2024-06-02' }, TODAY)?.message).toMatch(/future/);
    expect(demographicsProblem({ ...ada, birthDate: '1899-12-31' }, TODAY)?.message).toMatch(/1900/);
    expect(demographicsProblem({ ...ada, gender: '' }, TODAY)?.field).toBe('gender');
    expect(demographicsProblem({ ...ada, gender: 'robot' }, TODAY)?.field).toBe('gender');
    expect(demographicsProblem({ ...ada, phone: 'call me' }, TODAY)?.field).toBe('phone');
    expect(demographicsProblem({ ...ada, phone: '12' }, TODAY)?.field).toBe('phone');
  });

  it('knows today in the local time zone', () => {
    expect(localToday(new Date(2024, 0, 5, 23, 59))).toBe('2024-01-05');
  });
});
