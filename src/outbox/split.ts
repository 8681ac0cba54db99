// Cuts a message into parts VK accepts, at paragraph, then line, then word boundaries.

export function splitText(text: string, maxLength: number): string[] {
  if (maxLength < 1) throw new RangeError('maxLength must be positive');
  const parts: string[] = [];
  let rest = text;
  while (rest.length > maxLength) {
    const window = rest.slice(0, maxLength + 1);
    let cut = window.lastIndexOf('\n\n');
    if (cut < maxLength / 2) cut = window.lastIndexOf('\n');
    if (cut < maxLength / 2) cut = window.lastIndexOf(' ');
    if (cut < maxLength / 2) cut = maxLength;
    parts.push(rest.slice(0, cut).trimEnd());
    rest = rest.slice(cut).replace(/^\s+/, '');
  }
  if (rest.length > 0 || parts.length === 0) parts.push(rest);
  return parts;
}
