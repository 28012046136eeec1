"""Pure statistics: tidy pandas DataFrames in, DataFrames out. No Django import below this
package except in ``management/`` (the ``analyze`` command) and ``apps.py``."""
