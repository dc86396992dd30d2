// The runtime config (config.json next to index.html): API base URL, auth mode, Supabase URL and key.
let loaded = { api_base_url: "", auth_mode: "local", supabase_url: null, supabase_publishable_key: null };

export async function loadConfig() {
  const response = await fetch("/config.json", { cache: "no-cache" });
  if (response.ok) loaded = { ...loaded, ...(await response.json()) };
  return loaded;
}

export function config() {
  return loaded;
}
