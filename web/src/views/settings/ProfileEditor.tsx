import { useId, useState } from 'react';
import type { FormEvent } from 'react';
import type { Profile } from '../../api/types';
import { useApi } from '../../auth/SessionProvider';
import { ErrorNotice } from '../../components/ErrorNotice';
import { fieldsOf, replacementBody } from './profileForm';
import type { ProfileFields } from './profileForm';

const NUMERIC: { key: keyof ProfileFields; label: string }[] = [
  { key: 'maxPositionNotional', label: 'Max position notional' },
  { key: 'exposureCapNotional', label: 'Exposure cap notional' },
  { key: 'maxOpenOrders', label: 'Max open orders' },
  { key: 'dailyLossLimit', label: 'Daily loss limit' },
  { key: 'riskPerTradePct', label: 'Risk per trade (%)' },
  { key: 'haltCooldownMinutes', label: 'Halt cooldown (minutes)' },
];

export function ProfileEditor({ profile, disabledReason, onSaved }: { profile: Profile; disabledReason: string | null; onSaved: () => void }) {
  const api = useApi();
  const base = useId();
  const [fields, setFields] = useState<ProfileFields>(() => fieldsOf(profile));
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [error, setError] = useState<unknown>(null);
  const [saved, setSaved] = useState(false);
  const set = (key: keyof ProfileFields, value: string | boolean) => { setFields({ ...fields, [key]: value }); setSaved(false); };

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    const result = replacementBody(profile, fields);
    if ('errors' in result) { setErrors(result.errors); return; }
    setErrors({});
    setError(null);
    try {
      const current = await api.profile(profile.id);
      const etag = current.etag ?? current.data.etag ?? '';
      await api.replaceProfile(profile.id, result.body, etag);
      setSaved(true);
      onSaved();
    } catch (caught) {
      setError(caught);
    }
  };

  const input = (key: keyof ProfileFields, label: string) => (
    <div className="field" key={key}>
      <label htmlFor={`${base}-${key}`}>{label}</label>
      <input id={`${base}-${key}`} value={String(fields[key])} onChange={(e) => set(key, e.target.value)}
        aria-invalid={Boolean(errors[key])} aria-describedby={errors[key] ? `${base}-${key}-err` : undefined} />
      {errors[key] && <span id={`${base}-${key}-err`} className="field-error">{errors[key]}</span>}
    </div>
  );

  return (
    <form onSubmit={submit} className="card profile-editor" aria-labelledby={`${base}-title`}>
      <h3 id={`${base}-title`}>{profile.name} <span className="muted">({profile.id}, account {profile.accountId}, {profile.mode})</span></h3>
      <fieldset disabled={Boolean(disabledReason)}>
        <legend className="visually-hidden">Settings of {profile.name}</legend>
        {disabledReason && <p className="muted">{disabledReason}</p>}
        {input('name', 'Name')}
        {input('symbols', 'Symbols (comma-separated)')}
        <label className="inline"><input type="checkbox" checked={fields.enabled} onChange={(e) => set('enabled', e.target.checked)} /> Enabled (trades on its schedule)</label>
        <div className="grid-3">{NUMERIC.map((n) => input(n.key, n.label))}</div>
        <p className="muted">Strategy {profile.strategyId} v{profile.strategyVersion}, interval {profile.interval}.</p>
        <button type="submit" className="primary">Save profile</button>
        {saved && <span role="status"> Saved.</span>}
      </fieldset>
      <ErrorNotice error={error} action="Saving the profile" />
    </form>
  );
}
