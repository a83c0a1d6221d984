"""GIS registry of urban-renovation projects: GeoPandas layers tied to project attributes."""

__version__ = "0.1.0"
