import { useId } from 'react';

export function AccountSelect({ accounts, value, onChange }: { accounts: string[]; value: string; onChange: (v: string) => void }) {
  const id = useId();
  return (
    <div className="field inline">
      <label htmlFor={id}>Account</label>
      <select id={id} value={value} onChange={(e) => onChange(e.target.value)} disabled={accounts.length === 0}>
        {accounts.length === 0 && <option value="">No accounts</option>}
        {accounts.map((a) => <option key={a} value={a}>{a}</option>)}
      </select>
    </div>
  );
}

/** The account in the URL (?account=) if it is one of ours, else the first. */
export function pickAccount(accounts: string[], wanted: string | null): string {
  return wanted && accounts.includes(wanted) ? wanted : accounts[0] ?? '';
}
