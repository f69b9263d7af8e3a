"""The URL paths the mock serves, each written once: the API's routes and the control plane's.

Route patterns keep aiohttp's ``{name}`` placeholders; :func:`batch_results_path` fills the one
a response names (a batch's ``results_url``).
"""

from __future__ import annotations

MESSAGES = "/v1/messages"
COUNT_TOKENS = f"{MESSAGES}/count_tokens"
BATCHES = f"{MESSAGES}/batches"
BATCH = f"{BATCHES}/{{batch_id}}"
BATCH_CANCEL = f"{BATCH}/cancel"
BATCH_RESULTS = f"{BATCH}/results"
MODELS = "/v1/models"
MODEL = f"{MODELS}/{{model_id}}"
COMPLETE = "/v1/complete"

# Skills and their versions (GA and beta share the routes)
SKILLS = "/v1/skills"
SKILL = f"{SKILLS}/{{skill_id}}"
SKILL_VERSIONS = f"{SKILL}/versions"
SKILL_VERSION = f"{SKILL_VERSIONS}/{{version}}"
SKILL_VERSION_CONTENT = f"{SKILL_VERSION}/content"

# The Managed Agents sessions beta (web/sessions.py)
SESSIONS = "/v1/sessions"
SESSION = f"{SESSIONS}/{{session_id}}"
SESSION_ARCHIVE = f"{SESSION}/archive"
SESSION_EVENTS = f"{SESSION}/events"
SESSION_EVENTS_STREAM = f"{SESSION_EVENTS}/stream"
SESSION_RESOURCES = f"{SESSION}/resources"
SESSION_RESOURCE = f"{SESSION_RESOURCES}/{{resource_id}}"
SESSION_THREADS = f"{SESSION}/threads"
SESSION_THREAD = f"{SESSION_THREADS}/{{thread_id}}"
SESSION_THREAD_ARCHIVE = f"{SESSION_THREAD}/archive"
SESSION_THREAD_EVENTS = f"{SESSION_THREAD}/events"
SESSION_THREAD_STREAM = f"{SESSION_THREAD}/stream"

# The managed-agents beta (agents, environments and their work, deployments and their runs, dreams)
AGENTS = "/v1/agents"
AGENT = f"{AGENTS}/{{agent_id}}"
AGENT_ARCHIVE = f"{AGENT}/archive"
AGENT_VERSIONS = f"{AGENT}/versions"
ENVIRONMENTS = "/v1/environments"
ENVIRONMENT = f"{ENVIRONMENTS}/{{environment_id}}"
ENVIRONMENT_ARCHIVE = f"{ENVIRONMENT}/archive"
WORK_LIST = f"{ENVIRONMENT}/work"
WORK_POLL = f"{WORK_LIST}/poll"
WORK_STATS = f"{WORK_LIST}/stats"
WORK = f"{WORK_LIST}/{{work_id}}"
WORK_ACK = f"{WORK}/ack"
WORK_HEARTBEAT = f"{WORK}/heartbeat"
WORK_STOP = f"{WORK}/stop"
DEPLOYMENTS = "/v1/deployments"
DEPLOYMENT = f"{DEPLOYMENTS}/{{deployment_id}}"
DEPLOYMENT_ARCHIVE = f"{DEPLOYMENT}/archive"
DEPLOYMENT_PAUSE = f"{DEPLOYMENT}/pause"
DEPLOYMENT_UNPAUSE = f"{DEPLOYMENT}/unpause"
DEPLOYMENT_RUN = f"{DEPLOYMENT}/run"
DEPLOYMENT_RUNS = "/v1/deployment_runs"
DEPLOYMENT_RUN_ONE = f"{DEPLOYMENT_RUNS}/{{deployment_run_id}}"
DREAMS = "/v1/dreams"
DREAM = f"{DREAMS}/{{dream_id}}"
DREAM_ARCHIVE = f"{DREAM}/archive"
DREAM_CANCEL = f"{DREAM}/cancel"

# The routes that run a model: a scenario rule with no ``match.path`` covers these (and the items
# of a batch, judged under BATCHES), and no other route; a rule reaches any other route by naming
# its path (shell wildcards, e.g. ``/v1/files*`` or ``/v1/sessions/*/events``).
MODEL_ROUTES = (MESSAGES, COUNT_TOKENS, BATCHES, COMPLETE)

# Files (GA and beta share the routes)
FILES = "/v1/files"
FILE = f"{FILES}/{{file_id}}"
FILE_CONTENT = f"{FILE}/content"

# Vaults and their credentials (managed-agents beta)
VAULTS = "/v1/vaults"
VAULT = f"{VAULTS}/{{vault_id}}"
VAULT_ARCHIVE = f"{VAULT}/archive"
CREDENTIALS = f"{VAULT}/credentials"
CREDENTIAL = f"{CREDENTIALS}/{{credential_id}}"
CREDENTIAL_ARCHIVE = f"{CREDENTIAL}/archive"
CREDENTIAL_VALIDATE = f"{CREDENTIAL}/mcp_oauth_validate"

# Memory stores, their memories and memory versions (managed-agents beta)
MEMORY_STORES = "/v1/memory_stores"
MEMORY_STORE = f"{MEMORY_STORES}/{{memory_store_id}}"
MEMORY_STORE_ARCHIVE = f"{MEMORY_STORE}/archive"
MEMORIES = f"{MEMORY_STORE}/memories"
MEMORY = f"{MEMORIES}/{{memory_id}}"
MEMORY_VERSIONS = f"{MEMORY_STORE}/memory_versions"
MEMORY_VERSION = f"{MEMORY_VERSIONS}/{{memory_version_id}}"
MEMORY_VERSION_REDACT = f"{MEMORY_VERSION}/redact"

# User profiles (GA and beta share the routes), MCP tunnels, compliance review (beta)
USER_PROFILES = "/v1/user_profiles"
USER_PROFILE = f"{USER_PROFILES}/{{user_profile_id}}"
USER_PROFILE_ACTION_URLS = f"{USER_PROFILE}/action_urls"
USER_PROFILE_ENROLLMENT_URL = f"{USER_PROFILE}/enrollment_url"
USER_PROFILE_GOOGLE_DATA_CONTROLS = f"{USER_PROFILE}/providers/google/data_controls"
TUNNELS = "/v1/tunnels"
TUNNEL = f"{TUNNELS}/{{tunnel_id}}"
TUNNEL_ARCHIVE = f"{TUNNEL}/archive"
TUNNEL_REVEAL_TOKEN = f"{TUNNEL}/reveal_token"
TUNNEL_ROTATE_TOKEN = f"{TUNNEL}/rotate_token"
TUNNEL_CERTIFICATES = f"{TUNNEL}/certificates"
TUNNEL_CERTIFICATE = f"{TUNNEL_CERTIFICATES}/{{certificate_id}}"
TUNNEL_CERTIFICATE_ARCHIVE = f"{TUNNEL_CERTIFICATE}/archive"
COMPLIANCE_REVIEW = "/v1/compliance/review"
REVIEW_CASES = f"{COMPLIANCE_REVIEW}/cases"
REVIEW_CASE = f"{REVIEW_CASES}/{{case_id}}"
REVIEW_CASE_RESPOND = f"{REVIEW_CASE}/respond"
REVIEW_ITEM = f"{COMPLIANCE_REVIEW}/items/{{item_id}}"
REVIEW_NOTICES = f"{COMPLIANCE_REVIEW}/notices"

CONTROL_PREFIX = "/_busysignal"
CONTROL_HEALTH = f"{CONTROL_PREFIX}/health"
CONTROL_JOURNAL = f"{CONTROL_PREFIX}/journal"
CONTROL_STATS = f"{CONTROL_PREFIX}/stats"
CONTROL_RESET = f"{CONTROL_PREFIX}/reset"
CONTROL_SCENARIO = f"{CONTROL_PREFIX}/scenario"
METRICS = "/metrics"


def batch_results_path(batch_id: str) -> str:
    """The path of one batch's results."""
    return BATCH_RESULTS.format(batch_id=batch_id)
