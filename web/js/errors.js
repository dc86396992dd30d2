// Every stable error code the API answers, in words a person understands. The API's own message is the
// fallback for a code this page does not know yet, and the status decides the tone.

const SENTENCES = {
  // signing in
  missing_token: "Please sign in to continue.",
  invalid_token: "Your sign-in is no longer valid. Please sign in again.",
  token_expired: "Your session has expired. Please sign in again.",
  anonymous_session: "Guest sessions can't use Atelier. Please sign in with an account.",
  account_erased: "This account has been deleted.",
  account_locked: "This account is scheduled for deletion. Cancel the deletion to use it again.",
  underage: "Sorry, you must be at least 13 to use Atelier. Nothing about you has been kept.",
  onboarding_required: "Please finish setting up your account first.",
  policy_acceptance_required: "Our privacy policy or terms changed. Please review and accept them to continue.",
  local_only: "Local sign-in only works on the computer running Atelier.",
  invalid_email: "Please enter an email address like ada@example.com.",
  invalid_birth_date: "Please enter a real date of birth.",
  unknown_policy_version: "That policy version doesn't exist. Reload the page and try again.",
  policy_version_not_current: "The policy changed while you were reading. Reload the page to see the current one.",
  // credits and billing
  insufficient_credits: "You don't have enough credits for this. Buy credits to continue.",
  billing_disabled: "Buying credits is not available on this server.",
  payment_provider_error: "Our payment provider isn't answering right now. Please try again in a minute.",
  unknown_product: "That product is no longer on sale.",
  // jobs
  prompt_required: "Please describe what you want to see.",
  prompt_too_long: "That prompt is too long. Please shorten it.",
  content_blocked: "That request isn't allowed by our content rules. Please change it and try again.",
  image_required: "Please choose an image first.",
  image_not_found: "That image isn't available any more. Please choose another.",
  image_not_accepted: "This task doesn't take an input image.",
  mask_required: "Please paint the area to change first.",
  mask_not_accepted: "This task doesn't take a mask.",
  unsupported_aspect_ratio: "That model doesn't support this aspect ratio.",
  aspect_ratio_not_supported: "That model doesn't support this aspect ratio.",
  count_not_supported: "That model can't make that many images at once.",
  model_task_mismatch: "That model can't do this task. Please pick another model.",
  invalid_target_size: "Please choose a valid output size.",
  target_size_not_accepted: "This task doesn't take an output size.",
  unknown_target_model: "Please choose a model to write the prompt for.",
  target_model_not_accepted: "This task doesn't take a target model.",
  too_many_active_jobs: "You have as many jobs running as you can at once. Generate again when one finishes, or cancel one.",
  image_not_output: "Variations start from one of your generated images. Choose one in your generations.",
  bad_size: "Please choose Standard or 4K.",
  size_not_supported: "This task can't make that size. Please choose Standard.",
  strength_not_accepted: "Only variations take a strength.",
  unknown_model: "That model isn't offered here. Please pick another.",
  model_not_licensed: "That model isn't offered here. Please pick another.",
  idempotency_key_reused: "That request was already sent with different settings. Please try again.",
  job_finished: "That job already finished.",
  job_not_found: "That job doesn't exist any more.",
  invalid_job: "These settings don't work together. Please check them and try again.",
  timeout: "The job took too long and was stopped. Your credits were returned.",
  canceled: "The job was canceled. Your credits were returned.",
  empty_caption: "We couldn't describe this image. Your credits were returned.",
  input_too_large: "That image is too large for this task.",
  missing_input: "An input is missing. Please choose an image again.",
  // images
  image_too_large: "That image has too many pixels. Please use a smaller one.",
  invalid_image: "That file isn't an image we can read.",
  unsupported_media_type: "Please choose a JPEG, PNG or WebP image.",
  payload_too_large: "That file is too large.",
  not_publishable: "Only generated images can be shown in the gallery.",
  signed_url_expired: "That link has expired. Reload the page to get a fresh one.",
  // support and contact
  invalid_support_text: "Please write a subject and a message (plain text, up to 10,000 characters).",
  too_many_attachments: "Please attach at most 5 images.",
  invalid_contact_email: "Please enter one email address we can answer to, like ada@example.com.",
  invalid_contact_name: "Please enter your name as plain text, or leave it empty.",
  // services
  rate_limited: "You're going a little fast. Please wait a moment.",
  rate_limiter_unavailable: "Atelier's database isn't answering right now. Please try again shortly.",
  auth_unavailable: "The sign-in service isn't answering right now. Please try again shortly.",
  storage_unavailable: "Image storage isn't answering right now. Please try again shortly.",
  unavailable: "Atelier is temporarily unavailable. Please try again shortly.",
  not_found: "We couldn't find that.",
  network: "Atelier can't be reached. Check your connection and try again.",
};

const BY_STATUS = {
  400: "Something about that request wasn't right.",
  401: SENTENCES.invalid_token,
  402: SENTENCES.insufficient_credits,
  403: "You're not allowed to do that.",
  404: SENTENCES.not_found,
  409: "That changed in the meantime. Please reload and try again.",
  413: SENTENCES.payload_too_large,
  422: "Please check what you entered.",
  428: SENTENCES.policy_acceptance_required,
  429: SENTENCES.rate_limited,
  503: SENTENCES.unavailable,
};

export function sentenceFor(code, status, fallback) {
  if (code && SENTENCES[code]) return SENTENCES[code];
  if (status >= 500 && status !== 503) return "Something went wrong on our side. Please try again.";
  return BY_STATUS[status] || fallback || "Something went wrong. Please try again.";
}

export class ApiError extends Error {
  constructor(status, code, message, retryAfter = null) {
    super(sentenceFor(code, status, message));
    this.status = status;
    this.code = code;
    this.detail = message;
    this.retryAfter = retryAfter;
  }
}
