/**
 * Markdown tables padded the way the repository's formatter (Biome) prints them, so generated
 * documents pass `npm run lint` as written.
 */
export type Alignment = 'left' | 'right';

const width = (text: string) => [...text].length;

export function alignedTable(
  header: readonly string[],
  align: readonly Alignment[],
  rows: readonly string[][],
): string {
  const widths = header.map((title, c) =>
    Math.max(3, width(title), ...rows.map((row) => width(row[c] ?? ''))),
  );
  const pad = (text: string, c: number) => {
    const fill = ' '.repeat((widths[c] as number) - width(text));
    return align[c] === 'right' ? fill + text : text + fill;
  };
  const line = (cells: readonly string[]) => `| ${cells.map((cell, c) => pad(cell, c)).join(' | ')} |`;
  const rule = `| ${widths.map((w, c) => (align[c] === 'right' ? `${'-'.repeat(w - 1)}:` : '-'.repeat(w))).join(' | ')} |`;
  return [line(header), rule, ...rows.map(line)].join('\n');
}
