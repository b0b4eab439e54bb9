// Message text cut into tokens: plain text, links and mentions. Only http(s) URLs become links,
// and only from plain text: nothing here ever produces or reads HTML.

const urlPattern = /\bhttps?:\/\/[^\s<>"']+/giu;
// Punctuation that ends a sentence rather than the URL ("see https://x.org/a.").
const trailing = /[.,;:!?)\]}'"»]+$/u;

/** `{ kind: "link", text, href }` for a well-formed http(s) URL, or null. */
function link(candidate) {
  try {
    const url = new URL(candidate);
    if (url.protocol !== "http:" && url.protocol !== "https:") return null;
    return { kind: "link", text: candidate, href: url.href };
  } catch {
    return null;
  }
}

function escapeRegExp(text) {
  return text.replace(/[.*+?^${}()|[\]\\-]/g, "\\$&");
}

/**
 * A matcher of `nick` as a whole word in any script, case-insensitively: "ivan" in "hi Ivan!" and
 * "@ivan", not in "ivanka" or "sivan". Nicks hold letters, digits, `_` and `-`.
 */
export function mentionPattern(nick) {
  if (!nick) return null;
  return new RegExp(`(?<![\\p{L}\\p{N}\\p{M}_-])@?${escapeRegExp(nick)}(?![\\p{L}\\p{N}\\p{M}_-])`, "giu");
}

/** Whether `text` mentions the nick `pattern` was made for. */
export function mentions(text, pattern) {
  if (!pattern) return false;
  pattern.lastIndex = 0;
  return pattern.test(text);
}

function splitMentions(text, pattern) {
  if (!pattern) return [{ kind: "text", text }];
  const tokens = [];
  let last = 0;
  pattern.lastIndex = 0;
  for (const match of text.matchAll(pattern)) {
    if (match.index > last) tokens.push({ kind: "text", text: text.slice(last, match.index) });
    tokens.push({ kind: "mention", text: match[0] });
    last = match.index + match[0].length;
  }
  if (last < text.length) tokens.push({ kind: "text", text: text.slice(last) });
  return tokens;
}

/** The tokens of `text`: links first, then mentions of the user in what is left. */
export function tokenize(text, pattern) {
  const tokens = [];
  let last = 0;
  for (const match of text.matchAll(urlPattern)) {
    const candidate = match[0].replace(trailing, "");
    const token = link(candidate);
    if (!token) continue;
    if (match.index > last) tokens.push(...splitMentions(text.slice(last, match.index), pattern));
    tokens.push(token);
    last = match.index + candidate.length;
  }
  if (last < text.length) tokens.push(...splitMentions(text.slice(last), pattern));
  return tokens;
}
