import Hummingbird
import Spool
