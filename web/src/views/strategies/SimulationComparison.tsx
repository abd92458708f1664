import { useEffect, useMemo } from 'react';
import type { SimMetrics, SimSide } from '../../api/types';
import { useApi } from '../../auth/SessionProvider';
import { LineChart } from '../../chart/LineChart';
import type { LineSpec } from '../../chart/LineChart';
import { ErrorNotice } from '../../components/ErrorNotice';
import { Loading } from '../../components/Loading';
import { formatDecimal } from '../../lib/decimal';
import { formatFraction, formatNumber } from '../../lib/format';
import { useAsync } from '../../lib/useAsync';
import { equityLine, simulationDone } from './workbenchLogic';

const ROWS: { key: keyof SimMetrics; label: string; show: (m: SimMetrics) => string }[] = [
  { key: 'netReturn', label: 'Net return', show: (m) => formatFraction(m.netReturn, 2, true) },
  { key: 'maxDrawdown', label: 'Max drawdown', show: (m) => formatFraction(m.maxDrawdown) },
  { key: 'winRate', label: 'Win rate', show: (m) => formatFraction(m.winRate) },
  { key: 'sharpe', label: 'Sharpe', show: (m) => formatNumber(m.sharpe) },
  { key: 'tradeCount', label: 'Trades', show: (m) => String(m.tradeCount) },
  { key: 'finalEquity', label: 'Final equity', show: (m) => formatDecimal(m.finalEquity) },
  { key: 'feesPaid', label: 'Fees', show: (m) => formatDecimal(m.feesPaid) },
];

/** Baseline against candidate: out-of-sample metrics and both equity curves. */
export function SimulationComparison({ runId }: { runId: string }) {
  const api = useApi();
  const run = useAsync(() => api.simulation(runId), [api, runId]);
  const { reload } = run;
  const done = simulationDone(run.data);
  useEffect(() => {
    if (done) return undefined;
    const timer = window.setInterval(reload, 1500);
    return () => window.clearInterval(timer);
  }, [done, reload]);

  if (run.error) return <ErrorNotice error={run.error} action="Loading the simulation" />;
  if (!run.data) return <Loading label="Loading the simulation…" />;
  const { result, progress } = run.data;
  if (!result) {
    return <p role="status">Simulation {run.data.status}{progress ? `: ${progress.percent.toFixed(0)}%` : ''}{run.data.error ? ` — ${run.data.error}` : ''}</p>;
  }
  const baseline = result.baseline.outOfSample;
  const candidate = result.candidate.outOfSample;
  return (
    <div className="simulation" data-testid="simulation">
      <p>Verdict: <strong>{result.report.verdict}</strong> — {result.report.reasons.join(' ')}</p>
      <table>
        <caption>Out-of-sample ({baseline.start.slice(0, 10)} to {baseline.end.slice(0, 10)})</caption>
        <thead>
          <tr><th scope="col">Metric</th><th scope="col" className="num">Baseline v{result.baseline.version ?? '?'}</th><th scope="col" className="num">Candidate v{result.candidate.version ?? '?'}</th></tr>
        </thead>
        <tbody>
          {ROWS.map((r) => (
            <tr key={r.key}><th scope="row">{r.label}</th><td className="num">{r.show(baseline.metrics)}</td><td className="num">{r.show(candidate.metrics)}</td></tr>
          ))}
        </tbody>
      </table>
      <EquityCurves baseline={result.baseline} candidate={result.candidate} />
    </div>
  );
}

function EquityCurves({ baseline, candidate }: { baseline: SimSide; candidate: SimSide }) {
  const lines = useMemo<LineSpec[]>(() => [
    { id: 'baseline', label: `Baseline v${baseline.version ?? '?'}`, color: '#868e96', points: equityLine(baseline.outOfSample.equityCurve) },
    { id: 'candidate', label: `Candidate v${candidate.version ?? '?'}`, color: '#1c7ed6', points: equityLine(candidate.outOfSample.equityCurve) },
  ], [baseline, candidate]);
  return (
    <LineChart testId="equity-chart" lines={lines}
      label={`Equity curves, out-of-sample: baseline v${baseline.version ?? '?'} and candidate v${candidate.version ?? '?'}`} />
  );
}
