// The Lookalike demo page: plain browser JavaScript, no build step. Every call goes through api().

const DEMO_USERS = ['alice', 'bob', 'carol'];
const RECOMMENDATIONS = 10;
/** How many items the trending, "goes with this" and history strips show. */
const STRIP = 10;
const CATALOGUE_PAGE = 120;
/** Who the merchandising rules panel acts as: the local issuer's admin tokens carry the admin scope. */
const ADMIN_USER = 'merchandiser';

const $ = (id) => document.getElementById(id);
const elements = {
  user: $('user'),
  newUser: $('new-user'),
  currentUser: $('current-user'),
  status: $('status'),
  strategy: $('strategy'),
  recommendations: $('recommendations'),
  resultsPanel: $('results-panel'),
  resultsHeading: $('results-heading'),
  results: $('results'),
  queryPreview: $('query-preview'),
  closeResults: $('close-results'),
  complementsSection: $('complements-section'),
  complements: $('complements'),
  trending: $('trending'),
  refreshTrending: $('refresh-trending'),
  historyUser: $('history-user'),
  tastes: $('tastes'),
  tastesUser: $('tastes-user'),
  recentlyViewed: $('recently-viewed'),
  buyAgain: $('buy-again'),
  category: $('category'),
  catalogue: $('catalogue'),
  catalogueCount: $('catalogue-count'),
  more: $('more'),
  searchFile: $('search-file'),
  refresh: $('refresh'),
  toggleRules: $('toggle-rules'),
  toggleMetrics: $('toggle-metrics'),
  metricsPanel: $('metrics-panel'),
  metricsHeading: $('metrics-heading'),
  metricsStatus: $('metrics-status'),
  reloadMetrics: $('reload-metrics'),
  ctrChart: $('ctr-chart'),
  conversionChart: $('conversion-chart'),
  metricsRows: $('metrics-rows'),
  metricsOther: $('metrics-other'),
  rulesPanel: $('rules-panel'),
  rulesHeading: $('rules-heading'),
  rulesStatus: $('rules-status'),
  rules: $('rules'),
  reloadRules: $('reload-rules'),
  ruleForm: $('rule-form'),
  ruleCategoryOptions: $('rule-category-options'),
};

const state = {
  userId: localStorage.getItem('lookalike.user') || DEMO_USERS[0],
  /** Titles of every item seen in any answer, for "because you liked <title>". */
  titles: new Map(),
  /** What this user did to items in this session: itemId -> event type. */
  actions: new Map(),
  /** Events the API accepted for the current user, and the count the shown recommendations reflect. */
  eventsSent: 0,
  catalogue: { category: '', offset: 0, total: 0 },
  refreshes: 0,
  /** The latest request per strip (list element id): an older answer arriving later is dropped. */
  strips: new Map(),
  /** The rules as last read, by id: ending or deleting one sends the version read. */
  rules: new Map(),
};

class ApiError extends Error {
  constructor(status, body) {
    super(body && typeof body === 'object' && body.message ? body.message : `HTTP ${status}`);
    this.status = status;
    this.code = body && typeof body === 'object' ? body.code : undefined;
  }
}

/**
 * Bearer tokens per caller (a user, or the admin) from the local token endpoint, once it exists.
 * While it answers 404, no Authorization header is sent (the local API does not enforce
 * authentication yet).
 */
const tokens = { endpointMissing: false, byCaller: new Map() };
const callerKey = (userId, admin) => `${admin ? 'admin' : 'user'}:${userId}`;

function tokenFor(userId, admin) {
  if (tokens.endpointMissing) return Promise.resolve(undefined);
  // The promise is cached, so calls made at the same moment share one token request.
  const key = callerKey(userId, admin);
  if (!tokens.byCaller.has(key)) {
    const pending = fetchToken(userId, admin);
    pending.catch(() => tokens.byCaller.delete(key));
    tokens.byCaller.set(key, pending);
  }
  return tokens.byCaller.get(key);
}

async function fetchToken(userId, admin) {
  const query = new URLSearchParams({ userId });
  if (admin) query.set('admin', 'true');
  const response = await fetch(`/local/token?${query}`);
  if (response.status === 404) {
    tokens.endpointMissing = true;
    return undefined;
  }
  if (!response.ok) throw new ApiError(response.status, await response.json().catch(() => undefined));
  const type = response.headers.get('content-type') || '';
  const body = type.includes('json') ? await response.json() : (await response.text()).trim();
  return typeof body === 'string' ? body : body.token || body.accessToken || body.access_token;
}

/**
 * The one place that calls the API: JSON in and out, the caller's token (the current user's, or with
 * `admin: true` the admin's), typed errors.
 */
async function api(path, options = {}) {
  const { admin = false, ...init } = options;
  const userId = admin ? ADMIN_USER : state.userId;
  const send = async () => {
    const headers = new Headers(init.headers);
    const token = await tokenFor(userId, admin);
    if (token) headers.set('authorization', `Bearer ${token}`);
    return fetch(path, { ...init, headers });
  };
  let response = await send();
  if (response.status === 401 && tokens.byCaller.has(callerKey(userId, admin))) {
    // An expired token: fetch a fresh one, once.
    tokens.byCaller.delete(callerKey(userId, admin));
    response = await send();
  }
  const type = response.headers.get('content-type') || '';
  const body = type.includes('json') ? await response.json() : await response.text();
  if (!response.ok) throw new ApiError(response.status, body);
  return body;
}

const sendJson = (method, path, body, options = {}) =>
  api(path, {
    ...options,
    method,
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
const postJson = (path, body) => sendJson('POST', path, body);

function randomId(prefix) {
  if (crypto.randomUUID) return `${prefix}${crypto.randomUUID()}`;
  // crypto.randomUUID exists only in secure contexts (not on http://<lan-ip>).
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return prefix + Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

function announce(message, isError = false) {
  elements.status.textContent = message;
  elements.status.classList.toggle('error', isError);
}

const errorText = (error) =>
  error instanceof ApiError ? `${error.message} (${error.status})` : String(error);
const titleOf = (itemId) => state.titles.get(itemId) || itemId;
const remember = (items) => {
  for (const item of items) if (item.title) state.titles.set(item.itemId, item.title);
};

const PAST_TENSE = {
  like: 'liked',
  purchase: 'bought',
  add_to_cart: 'added to your cart',
  click: 'looked at',
};
const ACTION_LABELS = { like: 'Liked', dislike: 'Disliked', hide: 'Hidden', purchase: 'Bought' };

function reasonText(reason) {
  switch (reason?.kind) {
    case 'similar_to':
      return `because you ${PAST_TENSE[state.actions.get(reason.itemId)] || 'liked'} ${titleOf(reason.itemId)}`;
    case 'co_engaged':
      return `people who liked ${titleOf(reason.itemId)} also liked this`;
    case 'similar_to_item':
      return `looks like ${titleOf(reason.itemId)}`;
    case 'similar_to_image':
      return 'looks like your image';
    case 'popular':
      return 'popular right now';
    case 'trending':
      return 'trending now';
    case 'co_purchased':
      return `bought together with ${titleOf(reason.itemId)}`;
    case 'bought_with_category':
      return `its buyers also buy ${reason.category}`;
    case 'exploration':
      return reason.itemId ? `new in, like ${titleOf(reason.itemId)}` : 'new in';
    default:
      return '';
  }
}

function element(tag, attributes = {}, children = []) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === false) continue;
    if (name === 'text') node.textContent = value;
    else node.setAttribute(name, value === true ? '' : String(value));
  }
  node.append(...children);
  return node;
}

/**
 * An item card; `context` says where it is shown, sent with its events, and the level of its title's
 * heading (`h3` unless the list is under an h3 itself).
 */
function card(item, context) {
  const title = item.title || item.itemId;
  const done = state.actions.get(item.itemId);
  const actions = [
    ['like', 'Like'],
    ['dislike', 'Dislike'],
    ['hide', 'Hide'],
    ['purchase', 'Buy'],
  ].map(([type, label]) =>
    element('button', {
      type: 'button',
      class: `action ${type}`,
      'data-action': type,
      'aria-label': `${label} ${title}`,
      text: label,
    }),
  );
  actions.push(
    element('button', {
      type: 'button',
      class: 'action similar',
      'data-action': 'similar',
      'aria-label': `More like ${title}`,
      text: 'More like this',
    }),
  );
  const li = element(
    'li',
    {
      class: `card${done ? ` done-${done}` : ''}`,
      'data-item-id': item.itemId,
      'data-category': item.category || '',
      'data-position': context.position,
      'data-recommendation-id': context.recommendationId,
      'data-surface': context.surface,
    },
    [
      element('img', {
        src: item.imageUrl,
        alt: title,
        width: 64,
        height: 64,
        loading: context.surface === 'catalogue' ? 'lazy' : undefined,
        decoding: 'async',
      }),
      element(context.heading || 'h3', { class: 'title', text: title }),
      element('p', { class: 'category', text: item.category || 'uncategorised' }),
      ...(item.reason ? [element('p', { class: 'reason', text: reasonText(item.reason) })] : []),
      ...(done ? [element('p', { class: 'badge', text: ACTION_LABELS[done] || done })] : []),
      element('div', { class: 'actions', role: 'group', 'aria-label': `Actions for ${title}` }, actions),
    ],
  );
  return li;
}

function renderList(list, items, context) {
  remember(items);
  list.replaceChildren(...items.map((item, position) => card(item, { ...context, position })));
}

async function refreshRecommendations() {
  const refresh = ++state.refreshes;
  const userId = state.userId;
  const reflects = state.eventsSent;
  elements.recommendations.setAttribute('aria-busy', 'true');
  try {
    const list = await api(
      `/users/${encodeURIComponent(userId)}/recommendations?limit=${RECOMMENDATIONS}&exclude=seen`,
    );
    // A later refresh (or another user) may have answered first: show only the newest.
    if (refresh !== state.refreshes || userId !== state.userId) return false;
    renderList(elements.recommendations, list.items, {
      surface: 'recommendations',
      recommendationId: list.recommendationId,
    });
    elements.strategy.textContent =
      list.strategy === 'popular'
        ? 'Popular items: like a few things to make these yours.'
        : 'Based on what you liked, bought and hid.';
    if (list.items.length === 0)
      elements.recommendations.append(element('li', { class: 'empty', text: 'Nothing to recommend yet.' }));
    elements.recommendations.dataset.profileEvents = String(reflects);
    return true;
  } catch (error) {
    if (refresh === state.refreshes) announce(`Could not load recommendations: ${errorText(error)}`, true);
    return false;
  } finally {
    if (refresh === state.refreshes) elements.recommendations.setAttribute('aria-busy', 'false');
  }
}

/**
 * Fills a strip with the items of `load()` (an API answer with `items`), or `empty` when it has none.
 * Only the newest request per strip is shown.
 */
async function fillStrip(list, load, { surface, empty, what, heading = 'h4' }) {
  const request = (state.strips.get(list.id) || 0) + 1;
  state.strips.set(list.id, request);
  list.setAttribute('aria-busy', 'true');
  try {
    const answer = await load();
    if (state.strips.get(list.id) !== request) return false;
    renderList(list, answer.items, { surface, recommendationId: answer.recommendationId, heading });
    if (answer.items.length === 0) list.append(element('li', { class: 'empty', text: empty }));
    return true;
  } catch (error) {
    if (state.strips.get(list.id) === request) announce(`Could not load ${what}: ${errorText(error)}`, true);
    return false;
  } finally {
    if (state.strips.get(list.id) === request) list.setAttribute('aria-busy', 'false');
  }
}

function refreshTrending() {
  return fillStrip(elements.trending, () => api(`/trending?limit=${STRIP}`), {
    surface: 'trending',
    empty:
      'Nothing is trending right now: items trend when many people look at, cart or buy them in a short time.',
    what: 'trending items',
    heading: 'h3',
  });
}

const HISTORY = {
  viewed: {
    list: () => elements.recentlyViewed,
    surface: 'recently_viewed',
    empty: 'Nothing viewed yet: open “More like this” on an item.',
    what: 'what you viewed',
  },
  purchased: {
    list: () => elements.buyAgain,
    surface: 'buy_again',
    empty: 'Nothing bought yet.',
    what: 'what you bought',
  },
};

/** The current user's history strips: `kinds` are `viewed` (Recently viewed) and `purchased` (Buy again). */
function refreshHistory(kinds = ['viewed', 'purchased']) {
  const userId = state.userId;
  return Promise.all(
    kinds.map((kind) => {
      const { list, ...strip } = HISTORY[kind];
      return fillStrip(
        list(),
        () => api(`/users/${encodeURIComponent(userId)}/history?kind=${kind}&limit=${STRIP}`),
        strip,
      );
    }),
  );
}

/** How long the "Mute" button mutes a taste. */
const MUTE_HOURS = 24;

const timeText = (iso) =>
  new Date(iso).toLocaleString([], { weekday: 'short', hour: '2-digit', minute: '2-digit' });

/** One interest of the "Your tastes" strip: its images, label, weight, and mute / forget buttons. */
function tasteCard(interest, index) {
  const name = interest.label ? `${interest.label} taste` : `taste ${index + 1}`;
  const percent = Math.round(interest.weight * 100);
  const muted = interest.mutedUntil !== undefined;
  const images = interest.items.map((item) =>
    element('img', {
      src: item.imageUrl,
      alt: item.title || item.itemId,
      width: 48,
      height: 48,
      decoding: 'async',
    }),
  );
  remember(interest.items);
  return element(
    'li',
    {
      class: `taste${muted ? ' muted' : ''}`,
      'data-interest-id': interest.interestId,
      'data-label': interest.label || '',
      'data-muted': muted ? 'true' : 'false',
    },
    [
      element('h3', { class: 'title', text: `${interest.label || 'A taste'} · ${percent}%` }),
      element('div', { class: 'taste-images' }, images),
      element('p', {
        class: 'hint',
        text: muted
          ? `Muted until ${timeText(interest.mutedUntil)}`
          : `${interest.memberCount} item${interest.memberCount === 1 ? '' : 's'} you engaged with`,
      }),
      element('div', { class: 'actions', role: 'group', 'aria-label': `Actions for ${name}` }, [
        element('button', {
          type: 'button',
          class: 'action',
          'data-taste-action': muted ? 'unmute' : 'mute',
          'aria-label': `${muted ? 'Unmute' : 'Mute'} ${name}`,
          text: muted ? 'Unmute' : 'Mute for a day',
        }),
        element('button', {
          type: 'button',
          class: 'action forget',
          'data-taste-action': 'forget',
          'aria-label': `Forget ${name}`,
          text: 'Forget',
        }),
      ]),
    ],
  );
}

/** The "Your tastes" strip: the current user's interests (GET /users/{userId}/interests). */
async function refreshTastes() {
  const list = elements.tastes;
  const userId = state.userId;
  const request = (state.strips.get(list.id) || 0) + 1;
  state.strips.set(list.id, request);
  list.setAttribute('aria-busy', 'true');
  try {
    const { interests } = await api(`/users/${encodeURIComponent(userId)}/interests`);
    if (state.strips.get(list.id) !== request || userId !== state.userId) return false;
    list.replaceChildren(...interests.map(tasteCard));
    if (interests.length === 0)
      list.append(element('li', { class: 'empty', text: 'No tastes yet: like or buy a few things.' }));
    return true;
  } catch (error) {
    if (state.strips.get(list.id) === request)
      announce(`Could not load your tastes: ${errorText(error)}`, true);
    return false;
  } finally {
    if (state.strips.get(list.id) === request) list.setAttribute('aria-busy', 'false');
  }
}

/** Mutes (for MUTE_HOURS), unmutes or forgets a taste, then shows the tastes and the list again. */
async function editTaste(action, li) {
  const { interestId, label } = li.dataset;
  const name = label ? `the ${label} taste` : 'that taste';
  const path = `/users/${encodeURIComponent(state.userId)}/interests/${encodeURIComponent(interestId)}`;
  try {
    if (action === 'forget') await api(path, { method: 'DELETE' });
    else
      await sendJson(
        'PATCH',
        path,
        action === 'mute' ? { action: 'mute', hours: MUTE_HOURS } : { action: 'reset' },
      );
    const done = { mute: `Muted ${name} for a day`, unmute: `Unmuted ${name}`, forget: `Forgot ${name}` }[
      action
    ];
    announce(`${done}. Updating your recommendations…`);
    state.eventsSent += 1;
    await Promise.all([refreshTastes(), refreshRecommendations()]);
    announce(`${done}. Your recommendations are updated.`);
  } catch (error) {
    announce(`Could not change ${name}: ${errorText(error)}`, true);
  }
}

function loadComplements(itemId) {
  elements.complementsSection.hidden = false;
  return fillStrip(
    elements.complements,
    () => api(`/items/${encodeURIComponent(itemId)}/complements?limit=${STRIP}`),
    {
      surface: 'complements',
      empty: `Nothing to go with ${titleOf(itemId)} yet: nobody has bought it with anything.`,
      what: `what goes with ${titleOf(itemId)}`,
    },
  );
}

async function loadCatalogue(append = false) {
  const { category } = state.catalogue;
  const offset = append ? state.catalogue.offset : 0;
  const query = new URLSearchParams({ limit: String(CATALOGUE_PAGE), offset: String(offset) });
  if (category) query.set('category', category);
  elements.catalogue.setAttribute('aria-busy', 'true');
  try {
    const page = await api(`/local/catalogue?${query}`);
    if (category !== state.catalogue.category) return;
    remember(page.items);
    const cards = page.items.map((item, i) => card(item, { surface: 'catalogue', position: offset + i }));
    if (append) elements.catalogue.append(...cards);
    else elements.catalogue.replaceChildren(...cards);
    state.catalogue.offset = offset + page.items.length;
    state.catalogue.total = page.total;
    elements.catalogueCount.textContent = `(${page.total} items)`;
    elements.more.hidden = state.catalogue.offset >= page.total;
    fillCategories(page.categories);
    if (page.total === 0 && !category) {
      elements.catalogue.replaceChildren(
        element('li', {
          class: 'empty',
          text: 'No items yet: upload images to the catalogue bucket (see the terminal).',
        }),
      );
    }
  } catch (error) {
    announce(`Could not load the catalogue: ${errorText(error)}`, true);
  } finally {
    elements.catalogue.setAttribute('aria-busy', 'false');
  }
}

function fillCategories(categories) {
  const select = elements.category;
  if (select.options.length - 1 === categories.length) return;
  const current = select.value;
  select.replaceChildren(
    element('option', { value: '', text: 'All categories' }),
    ...categories.map(({ category, count }) =>
      element('option', { value: category, text: `${category} (${count})` }),
    ),
  );
  select.value = current;
  elements.ruleCategoryOptions.replaceChildren(
    ...categories.map(({ category }) => element('option', { value: category })),
  );
}

async function sendEvent(type, li) {
  const itemId = li.dataset.itemId;
  const title = titleOf(itemId);
  const context = { surface: li.dataset.surface };
  if (li.dataset.recommendationId) context.recommendationId = li.dataset.recommendationId;
  if (li.dataset.position !== undefined) context.position = Number(li.dataset.position);
  const event = { eventId: randomId('demo-'), userId: state.userId, itemId, type, context };
  try {
    const { results } = await postJson('/events', { events: [event] });
    const result = results[0];
    if (event.userId !== state.userId) return;
    if (result.status === 'rejected') {
      announce(`${title}: ${result.message} (${result.code})`, true);
      return;
    }
    state.actions.set(itemId, type);
    state.eventsSent += 1;
    for (const node of document.querySelectorAll(`[data-item-id="${CSS.escape(itemId)}"]`)) {
      node.className = `card done-${type}`;
      node.querySelector('.badge')?.remove();
      node.querySelector('.actions').before(element('p', { class: 'badge', text: ACTION_LABELS[type] }));
    }
    announce(`${ACTION_LABELS[type]} ${title}. Updating your recommendations…`);
    refreshTrending();
    if (type === 'purchase') refreshHistory(['purchased']);
    refreshTastes();
    if (await refreshRecommendations())
      announce(`${ACTION_LABELS[type]} ${title}. Your recommendations are updated.`);
  } catch (error) {
    announce(`Could not record that: ${errorText(error)}`, true);
  }
}

/**
 * Records that the user looked at an item (a `view` event, the "Recently viewed" strip's source),
 * then updates the strip and the recommendations, which count views too.
 */
async function recordView(li) {
  const itemId = li.dataset.itemId;
  const context = { surface: li.dataset.surface };
  if (li.dataset.recommendationId) context.recommendationId = li.dataset.recommendationId;
  if (li.dataset.position !== undefined) context.position = Number(li.dataset.position);
  const event = { eventId: randomId('demo-'), userId: state.userId, itemId, type: 'view', context };
  try {
    const { results } = await postJson('/events', { events: [event] });
    if (event.userId !== state.userId) return;
    if (results[0].status === 'rejected') {
      announce(
        `Could not record viewing ${titleOf(itemId)}: ${results[0].message} (${results[0].code})`,
        true,
      );
      return;
    }
    state.eventsSent += 1;
    await Promise.all([refreshHistory(['viewed']), refreshRecommendations()]);
  } catch (error) {
    announce(`Could not record viewing ${titleOf(itemId)}: ${errorText(error)}`, true);
  }
}

function showResults(heading, list, preview) {
  renderList(elements.results, list.items, {
    surface: list.strategy,
    recommendationId: list.recommendationId,
  });
  elements.resultsHeading.textContent = heading;
  elements.queryPreview.hidden = !preview;
  if (preview) {
    if (elements.queryPreview.src) URL.revokeObjectURL(elements.queryPreview.src);
    elements.queryPreview.src = preview;
    elements.queryPreview.alt = 'Your image';
  }
  elements.resultsPanel.hidden = false;
  elements.resultsHeading.focus();
}

async function moreLikeThis(li) {
  const itemId = li.dataset.itemId;
  try {
    const list = await api(`/items/${encodeURIComponent(itemId)}/similar?limit=${RECOMMENDATIONS}`);
    showResults(`More like ${titleOf(itemId)}`, list);
    loadComplements(itemId);
  } catch (error) {
    announce(`Could not find similar items: ${errorText(error)}`, true);
  }
}

async function searchByImage(file) {
  announce(`Searching for items that look like ${file.name}…`);
  try {
    const list = await api(`/search?limit=${RECOMMENDATIONS}`, {
      method: 'POST',
      headers: { 'content-type': file.type || 'application/octet-stream' },
      body: file,
    });
    elements.complementsSection.hidden = true;
    showResults(`Looks like ${file.name}`, list, URL.createObjectURL(file));
    announce(`${list.items.length} items look like ${file.name}.`);
  } catch (error) {
    const reason =
      error instanceof ApiError && error.status === 413 ? 'the image is over 4 MB' : errorText(error);
    announce(`Could not search with ${file.name}: ${reason}`, true);
  }
}

// The merchandising rules panel (issue 20): /rules with the admin's token.

function announceRules(message, isError = false) {
  elements.rulesStatus.textContent = message;
  elements.rulesStatus.classList.toggle('error', isError);
}

/** An API error as the admin should see it: its stable code and its message. */
const ruleErrorText = (error) =>
  error instanceof ApiError
    ? `${error.code || `HTTP ${error.status}`}: ${error.message} (${error.status})`
    : String(error);

function conditionText(condition = {}) {
  const parts = [];
  if (condition.categories) parts.push(`category ${condition.categories.join(' or ')}`);
  if (condition.tags) parts.push(`tag ${condition.tags.join(' or ')}`);
  if (condition.itemIds) parts.push(`item ${condition.itemIds.map(titleOf).join(' or ')}`);
  if (condition.minPrice !== undefined) parts.push(`price from ${condition.minPrice}`);
  if (condition.maxPrice !== undefined) parts.push(`price up to ${condition.maxPrice}`);
  if (condition.newerThanDays !== undefined)
    parts.push(`published in the last ${condition.newerThanDays} days`);
  return parts.join(' and ');
}

function ruleText(rule) {
  switch (rule.kind) {
    case 'boost':
      return `scores × ${rule.factor} for ${conditionText(rule.condition)}`;
    case 'bury':
      return `scores ÷ ${rule.factor} for ${conditionText(rule.condition)}`;
    case 'pin':
      return `${titleOf(rule.itemId)} at position ${rule.position}`;
    case 'promote':
      return `${Math.round(rule.share * 100)}% of the slots for ${conditionText(rule.condition)}`;
    default:
      return '';
  }
}

function ruleRow(rule) {
  const name = rule.name;
  const buttons = [
    // A scheduled rule cannot end before it starts (the API refuses endsAt before startsAt): delete it.
    ...(rule.status === 'active'
      ? [
          element('button', {
            type: 'button',
            'data-rule-action': 'end',
            'aria-label': `End ${name}`,
            text: 'End',
          }),
        ]
      : []),
    element('button', {
      type: 'button',
      'data-rule-action': 'delete',
      'aria-label': `Delete ${name}`,
      text: 'Delete',
    }),
  ];
  return element('tr', { 'data-rule-id': rule.ruleId, 'data-status': rule.status }, [
    element('th', { scope: 'row', text: name }),
    element('td', { text: rule.kind }),
    element('td', { text: ruleText(rule) }),
    element('td', { text: rule.placements.join(', ') }),
    element('td', { class: `rule-status ${rule.status}`, text: rule.status }),
    element('td', { text: String(rule.version) }),
    element('td', { class: 'rule-actions' }, buttons),
  ]);
}

async function loadRules() {
  try {
    const { rules } = await api('/rules', { admin: true });
    state.rules = new Map(rules.map((rule) => [rule.ruleId, rule]));
    elements.rules.replaceChildren(
      ...(rules.length > 0
        ? rules.map(ruleRow)
        : [element('tr', {}, [element('td', { colspan: 7, class: 'empty', text: 'No rules yet.' })])]),
    );
    return true;
  } catch (error) {
    announceRules(`Could not read the rules: ${ruleErrorText(error)}`, true);
    return false;
  }
}

const listOf = (value) =>
  value
    .split(',')
    .map((part) => part.trim())
    .filter(Boolean);

/** The new rule the form describes (the API checks it; the browser checks only the fields' ranges). */
function ruleFromForm(form) {
  const field = (name) => form.elements.namedItem(name).value;
  const kind = field('kind');
  const placements = listOf(field('placements'));
  const rule = { name: field('name').trim(), kind, placements: placements.length > 0 ? placements : ['*'] };
  if (kind === 'pin') return { ...rule, itemId: field('itemId').trim(), position: Number(field('position')) };
  const condition = { categories: listOf(field('categories')) };
  if (kind === 'promote') return { ...rule, condition, share: Number(field('share')) / 100 };
  return { ...rule, condition, factor: Number(field('factor')) };
}

/** Shows the fields of the chosen kind; hidden ones are disabled, so they are neither required nor sent. */
function showRuleFields() {
  const kind = elements.ruleForm.elements.namedItem('kind').value;
  for (const field of elements.ruleForm.querySelectorAll('[data-kinds]')) {
    const shown = field.dataset.kinds.split(' ').includes(kind);
    field.hidden = !shown;
    for (const input of field.querySelectorAll('input')) input.disabled = !shown;
  }
}

async function createRule() {
  const rule = ruleFromForm(elements.ruleForm);
  try {
    const created = await sendJson('POST', '/rules', rule, { admin: true });
    elements.ruleForm.reset();
    showRuleFields();
    await loadRules();
    announceRules(`Created ${created.name} (${created.status}, version ${created.version}).`);
  } catch (error) {
    announceRules(`Could not create ${rule.name}: ${ruleErrorText(error)}`, true);
  }
}

/** Ends a rule now: the whole definition again, with endsAt now and the version read. */
async function endRule(ruleId) {
  const read = state.rules.get(ruleId);
  if (!read) return;
  // Only what the API added to the definition is dropped: a field unknown to this page still goes
  // back (a whitelist would silently erase it), or the API refuses it with a message.
  const update = { ...read, endsAt: new Date().toISOString() };
  for (const key of ['ruleId', 'status', 'createdAt', 'updatedAt']) delete update[key];
  try {
    const ended = await sendJson('PUT', `/rules/${encodeURIComponent(ruleId)}`, update, { admin: true });
    await loadRules();
    announceRules(`Ended ${ended.name} (${ended.status}, version ${ended.version}).`);
  } catch (error) {
    announceRules(`Could not end ${read.name}: ${ruleErrorText(error)}`, true);
    // A version conflict means someone else changed it: show what is stored now.
    if (error instanceof ApiError && error.status === 409) await loadRules();
  }
}

async function deleteRule(ruleId) {
  const read = state.rules.get(ruleId);
  if (!read) return;
  try {
    await api(`/rules/${encodeURIComponent(ruleId)}?version=${read.version}`, {
      method: 'DELETE',
      admin: true,
    });
    await loadRules();
    announceRules(`Deleted ${read.name}.`);
  } catch (error) {
    announceRules(`Could not delete ${read.name}: ${ruleErrorText(error)}`, true);
    if (error instanceof ApiError && error.status === 409) await loadRules();
  }
}

function toggleRules() {
  const open = elements.rulesPanel.hidden;
  elements.rulesPanel.hidden = !open;
  elements.toggleRules.setAttribute('aria-expanded', String(open));
  if (open) {
    elements.rulesHeading.focus();
    loadRules();
  }
}

// The attribution panel (issue 25): GET /admin/metrics with the admin's token, drawn as inline SVG.

const SVG = 'http://www.w3.org/2000/svg';
const PLACEMENT_COLOURS = [
  '#1f6feb',
  '#d1242f',
  '#1a7f37',
  '#9a6700',
  '#8250df',
  '#bf3989',
  '#0a7d8c',
  '#57606a',
];

function svg(tag, attributes = {}, children = []) {
  const node = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (name === 'text') node.textContent = value;
    else node.setAttribute(name, String(value));
  }
  for (const child of children) node.append(child);
  return node;
}

const percent = (value, digits = 1) =>
  value === null || value === undefined ? '–' : `${(value * 100).toFixed(digits)}%`;

function daysOf(from, to) {
  const days = [];
  for (let at = Date.parse(`${from}T00:00:00Z`); at <= Date.parse(`${to}T00:00:00Z`); at += 86_400_000)
    days.push(new Date(at).toISOString().slice(0, 10));
  return days;
}

/**
 * A line per placement over the period's days: the rate's value as a point, its 95% interval as a
 * whisker; days without impressions leave a gap.
 */
function lineChart(figure, report, rateOf) {
  for (const old of figure.querySelectorAll('svg, .legend')) old.remove();
  const width = 560;
  const height = 220;
  const pad = { left: 48, right: 12, top: 12, bottom: 28 };
  const days = daysOf(report.from, report.to);
  const placements = [...new Set(report.daily.map((row) => row.placement))].sort();
  const points = report.daily.filter((row) => row.impressions > 0 && rateOf(row).value !== null);
  const top = Math.max(0.01, ...points.map((row) => rateOf(row).high ?? rateOf(row).value)) * 1.1;
  const x = (day) => pad.left + ((width - pad.left - pad.right) * (days.indexOf(day) + 0.5)) / days.length;
  const y = (value) => height - pad.bottom - ((height - pad.top - pad.bottom) * Math.max(0, value)) / top;
  const chart = svg('svg', { viewBox: `0 0 ${width} ${height}`, role: 'img', 'data-points': points.length });
  for (const tick of [0, top / 2, top])
    chart.append(
      svg('line', { x1: pad.left, x2: width - pad.right, y1: y(tick), y2: y(tick), class: 'grid' }),
      svg('text', {
        x: pad.left - 6,
        y: y(tick) + 4,
        'text-anchor': 'end',
        class: 'tick',
        text: percent(tick),
      }),
    );
  for (const day of days)
    chart.append(
      svg('text', { x: x(day), y: height - 8, 'text-anchor': 'middle', class: 'tick', text: day.slice(5) }),
    );
  placements.forEach((placement, i) => {
    const colour = PLACEMENT_COLOURS[i % PLACEMENT_COLOURS.length];
    const rows = points.filter((row) => row.placement === placement).sort((a, b) => (a.day < b.day ? -1 : 1));
    if (rows.length > 1)
      chart.append(
        svg('polyline', {
          points: rows.map((row) => `${x(row.day)},${y(rateOf(row).value)}`).join(' '),
          fill: 'none',
          stroke: colour,
          'stroke-width': 2,
        }),
      );
    for (const row of rows) {
      const rate = rateOf(row);
      if (rate.low !== null)
        chart.append(
          svg('line', {
            x1: x(row.day),
            x2: x(row.day),
            y1: y(rate.low),
            y2: y(rate.high),
            stroke: colour,
            class: 'whisker',
          }),
        );
      chart.append(
        svg(
          'circle',
          {
            cx: x(row.day),
            cy: y(rate.value),
            r: 4,
            fill: colour,
            'data-placement': placement,
            'data-day': row.day,
            'data-value': rate.value,
          },
          [
            svg('title', {
              text: `${placement} ${row.day}: ${percent(rate.value, 2)} (${percent(rate.low, 2)}–${percent(rate.high, 2)}), ${row.impressions} shown`,
            }),
          ],
        ),
      );
    }
  });
  figure.append(chart);
  figure.append(
    element(
      'ul',
      { class: 'legend' },
      placements.map((placement, i) =>
        element('li', {
          style: `--colour: ${PLACEMENT_COLOURS[i % PLACEMENT_COLOURS.length]}`,
          text: placement,
        }),
      ),
    ),
  );
}

async function loadMetrics() {
  elements.metricsStatus.textContent = 'Loading…';
  try {
    const report = await api('/admin/metrics', { admin: true });
    lineChart(elements.ctrChart, report, (row) => row.clickThroughRate);
    lineChart(elements.conversionChart, report, (row) => row.purchaseRate);
    elements.metricsRows.replaceChildren(
      ...report.placements.map((group) =>
        element('tr', { 'data-placement': group.placement, 'data-source': group.source }, [
          element('th', { scope: 'row', text: group.placement }),
          element('td', { text: group.source }),
          element('td', { class: 'impressions', text: String(group.impressions) }),
          element('td', { text: String(group.clicks) }),
          element('td', {
            text: `${percent(group.clickThroughRate.value, 2)} (${percent(group.clickThroughRate.low, 2)} – ${percent(group.clickThroughRate.high, 2)})`,
          }),
          element('td', { text: String(group.addToCarts) }),
          element('td', { text: String(group.purchases) }),
          element('td', { text: group.revenue.toFixed(2) }),
        ]),
      ),
    );
    const { organic, unattributed } = report;
    elements.metricsOther.textContent = `Organic (no list named): ${organic.clicks} clicks, ${organic.purchases} purchases. Unattributed (a list the user was not shown): ${unattributed.clicks} clicks, ${unattributed.purchases} purchases.`;
    elements.metricsStatus.textContent = report.placements.length
      ? `${report.from} to ${report.to}.`
      : 'No lists served yet in the last 7 days.';
  } catch (error) {
    elements.metricsStatus.textContent = `Could not read the metrics: ${ruleErrorText(error)}`;
  }
}

function toggleMetrics() {
  const open = elements.metricsPanel.hidden;
  elements.metricsPanel.hidden = !open;
  elements.toggleMetrics.setAttribute('aria-expanded', String(open));
  if (open) {
    elements.metricsHeading.focus();
    loadMetrics();
  }
}

function selectUser(userId) {
  state.userId = userId;
  state.actions = new Map();
  state.eventsSent = 0;
  localStorage.setItem('lookalike.user', userId);
  if (![...elements.user.options].some((option) => option.value === userId)) {
    elements.user.append(element('option', { value: userId, text: userId }));
  }
  elements.user.value = userId;
  elements.currentUser.textContent = userId;
  elements.historyUser.textContent = userId;
  elements.tastesUser.textContent = userId;
  for (const node of document.querySelectorAll('.card')) {
    node.className = 'card';
    node.querySelector('.badge')?.remove();
  }
  refreshRecommendations();
  refreshHistory();
  refreshTastes();
}

elements.tastes.addEventListener('click', (event) => {
  const button = event.target.closest('button[data-taste-action]');
  if (button) editTaste(button.dataset.tasteAction, button.closest('[data-interest-id]'));
});
document.addEventListener('click', (event) => {
  const button = event.target.closest('button[data-action]');
  if (!button) return;
  const li = button.closest('[data-item-id]');
  if (button.dataset.action === 'similar') {
    moreLikeThis(li);
    recordView(li);
  } else sendEvent(button.dataset.action, li);
});
elements.user.addEventListener('change', () => selectUser(elements.user.value));
elements.newUser.addEventListener('click', () => {
  selectUser(randomId('shopper-').slice(0, 16));
  announce(`Now shopping as ${state.userId}, a new user without history.`);
});
elements.category.addEventListener('change', () => {
  state.catalogue.category = elements.category.value;
  loadCatalogue();
});
elements.more.addEventListener('click', () => loadCatalogue(true));
elements.searchFile.addEventListener('change', () => {
  const [file] = elements.searchFile.files;
  if (file) searchByImage(file);
});
elements.refresh.addEventListener('click', () => refreshRecommendations());
elements.refreshTrending.addEventListener('click', () => refreshTrending());
elements.toggleRules.addEventListener('click', toggleRules);
elements.toggleMetrics.addEventListener('click', toggleMetrics);
elements.reloadMetrics.addEventListener('click', loadMetrics);
elements.reloadRules.addEventListener('click', async () => {
  if (await loadRules()) announceRules(`${state.rules.size} rule${state.rules.size === 1 ? '' : 's'}.`);
});
elements.ruleForm.elements.namedItem('kind').addEventListener('change', showRuleFields);
elements.ruleForm.addEventListener('submit', createRule);
elements.rules.addEventListener('click', (event) => {
  const button = event.target.closest('button[data-rule-action]');
  if (!button) return;
  const { ruleId } = button.closest('tr').dataset;
  if (button.dataset.ruleAction === 'end') endRule(ruleId);
  else deleteRule(ruleId);
});
elements.closeResults.addEventListener('click', () => {
  elements.resultsPanel.hidden = true;
  elements.searchFile.value = '';
});
for (const form of document.querySelectorAll('form'))
  form.addEventListener('submit', (event) => event.preventDefault());

showRuleFields();
selectUser(state.userId);
refreshTrending();
loadCatalogue();
