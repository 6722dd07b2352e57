// What the viewer asks kiln serve, and nothing else. Every failure becomes an Error whose
// message a person can read: the server's own {"error": ...} where it sent one, otherwise
// what happened on the way (server gone, answer not JSON).

export class ApiError extends Error {}

async function call(path, options = {}) {
  let res;
  try {
    res = await fetch(path, options);
  } catch (e) {
    throw new ApiError(`kiln serve does not answer (${e.message}): is it still running?`);
  }
  if (!res.ok) {
    let why = `${res.status} ${res.statusText}`;
    const text = await res.text().catch(() => '');
    try {
      why = JSON.parse(text).error || why;
    } catch {
      if (text) why = text;
    }
    const error = new ApiError(why);
    error.status = res.status;
    throw error;
  }
  return res;
}

async function json(res) {
  try {
    return await res.json();
  } catch (e) {
    throw new ApiError(`the server's answer is not JSON (${e.message})`);
  }
}

const model = (name) => encodeURIComponent(name);

// The server: version, whether models may be loaded and unloaded from here, generator classes.
export const server = () => call('/kiln/v1/server').then(json);

// Every model with its state, progress, error, plan, weight bytes and steady latency.
export const models = () => call('/kiln/v1/models').then(json);

// An image (PNG or JPEG bytes, any size) through a model: regions, timings and the score map.
export const segment = (name, bytes, type) =>
  call(`/kiln/v1/models/${model(name)}/segment`, {
    method: 'POST',
    headers: { 'Content-Type': type || 'application/octet-stream' },
    body: bytes,
  }).then(json);

// A synthetic defect image from kiln's generator, as PNG bytes.
export const generate = (cls, seed, size) =>
  call(`/kiln/v1/generate?class=${encodeURIComponent(cls)}&seed=${seed}&size=${size}`).then((r) => r.arrayBuffer());

// Repository control (kiln serve --model-control explicit): "load" prepares the model again,
// "unload" frees it. The admin token goes as a bearer token.
export const control = (name, action, token) =>
  call(`/v2/repository/models/${model(name)}/${action}`, {
    method: 'POST',
    headers: token ? { Authorization: `Bearer ${token}` } : {},
  });
