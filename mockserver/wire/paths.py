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

# The routes that run a model: a scenario rule with no ``match.path`` covers these (and the items
# of a batch, judged under BATCHES), and no other route; a rule reaches any other route by naming
# its path (shell wildcards, e.g. ``/v1/files*`` or ``/v1/sessions/*/events``).
MODEL_ROUTES = (MESSAGES, COUNT_TOKENS, BATCHES, COMPLETE)

# Files (GA and beta share the routes)
FILES = "/v1/files"
FILE = f"{FILES}/{{file_id}}"
FILE_CONTENT = f"{FILE}/content"

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
