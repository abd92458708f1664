"""The Function App: builds the app and registers the blueprints; nothing else.

Azure's Python worker indexes this module; the devhost imports it and serves the same
functions locally.
"""

import azure.durable_functions as df
import azure.functions as func

from durable.probe import bp as probe_bp
from durable.reconcile import bp as reconcile_bp
from durable.strategy_approval import bp as strategy_approval_bp
from functions.admin import bp as admin_bp
from functions.annotations_api import bp as annotations_api_bp
from functions.events_api import bp as events_api_bp
from functions.flags_api import bp as flags_api_bp
from functions.health import bp as health_bp
from functions.heartbeat import bp as heartbeat_bp
from functions.market_api import bp as market_api_bp
from functions.openapi import bp as openapi_bp
from functions.orders_api import bp as orders_api_bp
from functions.profiles_api import bp as profiles_api_bp
from functions.reconciliation import bp as reconciliation_bp
from functions.session_api import bp as session_api_bp
from functions.strategies_api import bp as strategies_api_bp
from functions.trading import bp as trading_bp
from functions.trading_api import bp as trading_api_bp

app = df.DFApp(http_auth_level=func.AuthLevel.ANONYMOUS)

app.register_functions(health_bp)
app.register_functions(heartbeat_bp)
app.register_functions(probe_bp)
app.register_functions(trading_bp)
app.register_functions(admin_bp)
app.register_functions(session_api_bp)
app.register_functions(market_api_bp)
app.register_functions(trading_api_bp)
app.register_functions(orders_api_bp)
app.register_functions(profiles_api_bp)
app.register_functions(flags_api_bp)
app.register_functions(events_api_bp)
app.register_functions(reconcile_bp)
app.register_functions(reconciliation_bp)
app.register_functions(openapi_bp)
app.register_functions(strategy_approval_bp)
app.register_functions(strategies_api_bp)
app.register_functions(annotations_api_bp)
