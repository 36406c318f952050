/*
 * template.c
 *		Rendering of notification templates: {{name}} placeholders filled
 *		from a jsonb object, as plain text or as an HTML document.
 *
 * Unknown names and JSON nulls render as nothing. In HTML every value and
 * every literal is escaped, a blank line starts a paragraph, a line break
 * becomes <br>, and {{link}} becomes a hyperlink. Right-to-left languages
 * get dir="rtl" on the document.
 */
#include "postgres.h"

#include "fmgr.h"
#include "lib/stringinfo.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"

#include "notify.h"

PG_FUNCTION_INFO_V1(ticketdesk_render_text);
PG_FUNCTION_INFO_V1(ticketdesk_render_html);
PG_FUNCTION_INFO_V1(ticketdesk_render_markup);

/* Largest template accepted: a guard against runaway input. */
#define TEMPLATE_MAX_BYTES (1024 * 1024)

static void
append_html(StringInfo out, const char *s, int len, bool literal)
{
	for (int i = 0; i < len; i++)
	{
		char		c = s[i];

		switch (c)
		{
			case '&':
				appendStringInfoString(out, "&amp;");
				break;
			case '<':
				appendStringInfoString(out, "&lt;");
				break;
			case '>':
				appendStringInfoString(out, "&gt;");
				break;
			case '"':
				appendStringInfoString(out, "&quot;");
				break;
			case '\'':
				appendStringInfoString(out, "&#39;");
				break;
			case '\r':
				break;
			case '\n':
				/* In the template's own text a blank line ends a paragraph. */
				if (literal && i + 1 < len && s[i + 1] == '\n')
				{
					while (i + 1 < len && s[i + 1] == '\n')
						i++;
					appendStringInfoString(out, "</p>\n<p>");
				}
				else
					appendStringInfoString(out, "<br>\n");
				break;
			default:
				appendStringInfoChar(out, c);
		}
	}
}

/* The text of a value of vars, or NULL when it is absent or a JSON null. */
/* The text of a JSON value as a placeholder shows it: NULL for JSON null. */
char *
template_json_text(JsonbValue *v)
{
	switch (v->type)
	{
		case jbvNull:
			return NULL;
		case jbvString:
			return pnstrdup(v->val.string.val, v->val.string.len);
		case jbvNumeric:
			return DatumGetCString(DirectFunctionCall1(numeric_out,
													   NumericGetDatum(v->val.numeric)));
		case jbvBool:
			return pstrdup(v->val.boolean ? "true" : "false");
		default:
			return JsonbToCString(NULL, v->val.binary.data, v->val.binary.len);
	}
}

/* A placeholder's value from a JSON object of values (a TemplateLookup). */
static char *
template_value(void *arg, const char *name, int len)
{
	Jsonb	   *vars = (Jsonb *) arg;
	JsonbValue	v;

	if (vars == NULL || !JB_ROOT_IS_OBJECT(vars))
		return NULL;
	if (getKeyJsonValueFromContainer(&vars->root, name, len, &v) == NULL)
		return NULL;
	return template_json_text(&v);
}

void
template_render(StringInfo out, const char *tmpl, int len, void *vars, TemplateMode mode)
{
	template_render_with(out, tmpl, len, template_value, vars, mode);
}

/*
 * template_render_with fills in a template with the values lookup gives
 * (NULL: the placeholder renders as nothing). The worker renders through
 * it from the claim's columns, without a JSON object of them.
 */
void
template_render_with(StringInfo out, const char *tmpl, int len, TemplateLookup lookup, void *arg,
					 TemplateMode mode)
{
	bool		html = (mode != TEMPLATE_TEXT);

	int			i = 0;
	int			lit = 0;

	while (i < len)
	{
		int			j = i + 2;
		char	   *value;

		if (!(tmpl[i] == '{' && i + 1 < len && tmpl[i + 1] == '{'))
		{
			i++;
			continue;
		}
		/* A name of lower-case letters, digits and '_', then "}}". */
		while (j < len && (islower((unsigned char) tmpl[j]) || isdigit((unsigned char) tmpl[j]) || tmpl[j] == '_'))
			j++;
		if (j == i + 2 || j + 1 >= len || tmpl[j] != '}' || tmpl[j + 1] != '}')
		{
			i++;
			continue;
		}

		/* Copy the literal text before the placeholder, then its value. */
		if (mode == TEMPLATE_HTML_FROM_TEXT)
			append_html(out, tmpl + lit, i - lit, true);
		else
			appendBinaryStringInfo(out, tmpl + lit, i - lit);
		value = lookup(arg, tmpl + i + 2, j - i - 2);
		if (value != NULL && !html)
			appendStringInfoString(out, value);
		else if (value != NULL && mode == TEMPLATE_HTML_FROM_TEXT &&
				 j - i - 2 == 4 && strncmp(tmpl + i + 2, "link", 4) == 0)
		{
			appendStringInfoString(out, "<a href=\"");
			append_html(out, value, strlen(value), false);
			appendStringInfoString(out, "\">");
			append_html(out, value, strlen(value), false);
			appendStringInfoString(out, "</a>");
		}
		else if (value != NULL)
			append_html(out, value, strlen(value), false);
		i = lit = j + 2;
	}
	if (mode == TEMPLATE_HTML_FROM_TEXT)
		append_html(out, tmpl + lit, len - lit, true);
	else
		appendBinaryStringInfo(out, tmpl + lit, len - lit);
}

void
template_check_size(int len)
{
	if (len > TEMPLATE_MAX_BYTES)
		ereport(ERROR,
				(errcode(ERRCODE_TD_TEMPLATE_TOO_LARGE),
				 errmsg("notification template is too large"),
				 errdetail("It has %d bytes; the limit is %d bytes.",
						   len, TEMPLATE_MAX_BYTES),
				 errhint("Keep a template to the text of one message.")));
}

static void
check_size(text *tmpl)
{
	template_check_size(VARSIZE_ANY_EXHDR(tmpl));
}

/* ticketdesk_render_text returns the template filled in as plain text. */
Datum
ticketdesk_render_text(PG_FUNCTION_ARGS)
{
	text	   *tmpl;
	Jsonb	   *vars = PG_ARGISNULL(1) ? NULL : PG_GETARG_JSONB_P(1);
	StringInfoData out;

	/* No template (none fits the message): no text. */
	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	tmpl = PG_GETARG_TEXT_PP(0);

	check_size(tmpl);
	initStringInfo(&out);
	template_render(&out, VARDATA_ANY(tmpl), VARSIZE_ANY_EXHDR(tmpl), vars, TEMPLATE_TEXT);
	PG_RETURN_TEXT_P(cstring_to_text_with_len(out.data, out.len));
}

/* ticketdesk_render_markup fills in a template written in HTML, escaping the values. */
Datum
ticketdesk_render_markup(PG_FUNCTION_ARGS)
{
	text	   *tmpl;
	Jsonb	   *vars = PG_ARGISNULL(1) ? NULL : PG_GETARG_JSONB_P(1);
	StringInfoData out;

	/* No template (none fits the message): no text. */
	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	tmpl = PG_GETARG_TEXT_PP(0);

	check_size(tmpl);
	initStringInfo(&out);
	template_render(&out, VARDATA_ANY(tmpl), VARSIZE_ANY_EXHDR(tmpl), vars, TEMPLATE_HTML);
	PG_RETURN_TEXT_P(cstring_to_text_with_len(out.data, out.len));
}

/* True for the languages written right to left. */
static bool
language_is_rtl(const char *lang)
{
	static const char *const rtl[] = {"he", "ar", "fa", "ur", "yi"};

	for (int i = 0; i < lengthof(rtl); i++)
		if (strcmp(lang, rtl[i]) == 0)
			return true;
	return false;
}

/*
 * template_render_document fills in a plain-text template as an HTML
 * document in language lang, right to left where the language is.
 */
void
template_render_document(StringInfo out, const char *tmpl, int len, TemplateLookup lookup, void *arg,
						 const char *lang)
{
	const char *dir;

	for (const char *p = lang; *p; p++)
		if (!islower((unsigned char) *p))
			lang = "en";
	dir = language_is_rtl(lang) ? "rtl" : "ltr";
	appendStringInfo(out,
					 "<!DOCTYPE html>\n<html lang=\"%s\" dir=\"%s\">\n"
					 "<head><meta charset=\"utf-8\"></head>\n"
					 "<body dir=\"%s\" style=\"direction: %s; text-align: %s\">\n<p>",
					 lang, dir, dir, dir, strcmp(dir, "rtl") == 0 ? "right" : "left");
	template_render_with(out, tmpl, len, lookup, arg, TEMPLATE_HTML_FROM_TEXT);
	appendStringInfoString(out, "</p>\n</body>\n</html>\n");
}

/*
 * ticketdesk_render_html returns the template filled in as an HTML document
 * in the given language, right to left where the language is.
 */
Datum
ticketdesk_render_html(PG_FUNCTION_ARGS)
{
	text	   *tmpl;
	Jsonb	   *vars = PG_ARGISNULL(1) ? NULL : PG_GETARG_JSONB_P(1);
	char	   *lang = PG_ARGISNULL(2) ? "en" : text_to_cstring(PG_GETARG_TEXT_PP(2));
	StringInfoData out;

	/* No template (none fits the message): no text. */
	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	tmpl = PG_GETARG_TEXT_PP(0);

	check_size(tmpl);
	initStringInfo(&out);
	template_render_document(&out, VARDATA_ANY(tmpl), VARSIZE_ANY_EXHDR(tmpl), template_value, vars, lang);
	PG_RETURN_TEXT_P(cstring_to_text_with_len(out.data, out.len));
}
