import type { ReactNode } from 'react';
import { ChartWorkspace } from '../chart/ChartWorkspace';
import { matchPath } from '../router/router';
import { AdminView } from '../views/admin/AdminView';
import { DecisionsView } from '../views/decisions/DecisionsView';
import { MarketsView } from '../views/markets/MarketsView';
import { OverviewView } from '../views/overview/OverviewView';
import { SettingsView } from '../views/settings/SettingsView';
import { StrategiesView } from '../views/strategies/StrategiesView';
import { StrategyDetailView } from '../views/strategies/StrategyDetailView';
import { OrdersView } from '../views/trading/OrdersView';
import { PositionsView } from '../views/trading/PositionsView';
import { TradesView } from '../views/trading/TradesView';

/** The view for a path; null for an unknown path. */
export function routeView(pathname: string): ReactNode | null {
  const simple: Record<string, () => ReactNode> = {
    '/': () => <OverviewView />,
    '/markets': () => <MarketsView />,
    '/chart': () => <ChartWorkspace />,
    '/orders': () => <OrdersView />,
    '/positions': () => <PositionsView />,
    '/trades': () => <TradesView />,
    '/decisions': () => <DecisionsView />,
    '/strategies': () => <StrategiesView />,
    '/operations': () => <AdminView />,
    '/settings': () => <SettingsView />,
  };
  const view = simple[pathname.replace(/\/+$/, '') || '/'];
  if (view) return view();
  const strategy = matchPath('/strategies/:id', pathname);
  if (strategy?.id) return <StrategyDetailView key={strategy.id} strategyId={strategy.id} />;
  return null;
}
