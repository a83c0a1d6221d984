"""Documents the registry writes from its data: the yearly work summary, the progress bulletin, the assessment.

``document`` holds the one document model (elements, headings, paragraphs, tables, figures) and its renderers
(HTML with a print stylesheet, PDF through WeasyPrint, DOCX through python-docx, Markdown), laid out after
GB/T 9704; each report builds a ``Document`` from the store and renders it.
"""

SUMMARY_TEXT_KEY = "report_text_summary"  # registry_meta key of the work summary's narrative (registry report text)
