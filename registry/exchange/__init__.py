"""Data exchange: export query results to GIS and spreadsheet files, and import such files into a registry.

``export`` writes a ``registry.query.QueryResult`` as GeoJSON, Shapefile (zip), GeoPackage (with QGIS
styles), FlatGeobuf, CSV or XLSX; ``import_file`` reads any of them (and Shapefiles from elsewhere,
GBK or UTF-8), validates every row and writes the accepted projects in one transaction.
"""

from .export import FORMATS, ExportReport, export, export_bytes, format_for
from .importer import ImportReport, Rejection, RowsRejected, import_file

__all__ = ["FORMATS", "ExportReport", "ImportReport", "Rejection", "RowsRejected", "export", "export_bytes",
           "format_for", "import_file"]
