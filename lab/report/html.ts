/** Text as HTML: the five characters that could start markup or end an attribute are escaped. */
export const escapeHtml = (s: string): string => s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

// `code` spans keep their text as it is; elsewhere **bold** becomes <strong>.
const inline = (s: string): string =>
  s
    .split(/(`[^`]+`)/)
    .map((part, i) => (i % 2 ? `<code>${escapeHtml(part.slice(1, -1))}</code>` : escapeHtml(part).replace(/\*\*(.+?)\*\*/g, '<strong>$1</strong>')))
    .join('');

/**
 * The Markdown the suites write into Allure descriptions as HTML: paragraphs, `- ` lists, fenced
 * code, **bold** and `code`. Every piece of text is escaped, so a reason such as
 * `<relay>` reads as written (Allure's own conversion drops anything tag-like). Plain elements
 * only: Allure 2.46.1 strips style and class attributes when it generates the report, and its
 * stylesheet shows <strong> and <code> like body text, so what the reader gains is one line per
 * paragraph, the command as its own block, and no Markdown marks.
 */
export function markdownHtml(md: string): string {
  const out: string[] = [];
  const lines = md.split('\n');
  for (let i = 0; i < lines.length; ) {
    const line = lines[i]!;
    if (line.startsWith('```')) {
      const end = lines.findIndex((l, j) => j > i && l.startsWith('```'));
      const stop = end === -1 ? lines.length : end;
      out.push(`<pre><code>${escapeHtml(lines.slice(i + 1, stop).join('\n'))}</code></pre>`);
      i = stop + 1;
    } else if (!line.trim()) {
      i++;
    } else {
      const block: string[] = [];
      for (; i < lines.length && lines[i]!.trim() && !lines[i]!.startsWith('```'); i++) block.push(lines[i]!);
      out.push(
        block.every((l) => l.startsWith('- '))
          ? `<ul>${block.map((l) => `<li>${inline(l.slice(2))}</li>`).join('')}</ul>`
          : `<p>${block.map(inline).join('\n')}</p>`,
      );
    }
  }
  return out.join('\n');
}
