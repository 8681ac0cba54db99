// Cuts a message into parts VK accepts, at paragraph, then line, then word boundaries.

export interface Part {
  text: string;
  /** Index in the input where the rest begins (whitespace between parts is dropped). */
  next: number;
}

function isHighSurrogate(code: number): boolean {
  return code >= 0xd800 && code <= 0xdbff;
}

/** The first part of at most maxLength UTF-16 units, and where the rest of the text starts. */
export function firstPart(text: string, maxLength: number): Part {
  if (maxLength < 1) throw new RangeError('maxLength must be positive');
  if (text.length <= maxLength) return { text, next: text.length };
  const window = text.slice(0, maxLength + 1);
  let cut = window.lastIndexOf('\n\n');
  if (cut < maxLength / 2) cut = window.lastIndexOf('\n');
  if (cut < maxLength / 2) cut = window.lastIndexOf(' ');
  if (cut < maxLength / 2) cut = maxLength;
  // Never cut an emoji or other astral character in half.
  if (cut > 1 && isHighSurrogate(text.charCodeAt(cut - 1))) cut -= 1;
  let next = cut;
  while (next < text.length && /\s/.test(text[next] ?? '')) next += 1;
  return { text: text.slice(0, cut).trimEnd(), next };
}

export function splitText(text: string, maxLength: number): string[] {
  const parts: string[] = [];
  let offset = 0;
  do {
    const part = firstPart(text.slice(offset), maxLength);
    parts.push(part.text);
    offset += part.next;
  } while (offset < text.length);
  return parts;
}
